"""Moved to :mod:`fingerv7.retry`; this re-export is kept for one release."""

from fingerv7.retry import CircuitBreaker, CircuitState, ExponentialBackoff

__all__ = ["CircuitBreaker", "CircuitState", "ExponentialBackoff"]
