"""FingerV7: an orchestrator and a fleet of audio-fingerprinting workers for internet radio."""

__version__ = "0.1.0"
