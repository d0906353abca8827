"""Moved to :mod:`fingerv7.background_http`; this re-export is kept for one release."""

from fingerv7.background_http import BackgroundHttpServer

__all__ = ["BackgroundHttpServer"]
