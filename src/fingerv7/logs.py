"""Logging for every FingerV7 process: the manual's line format and categories.

Messages carry their category in the text (`[STARTUP]`, `[INSTANCE]`, `[STREAM]`, `[BALANCE]`,
`[ERROR]`, `[PERF]`). Plain lines by default (`2025-08-26 22:00:00 [INFO] [STARTUP] ...`), JSON
lines with LOG_FORMAT=json; to stdout (a worker: stderr) unless LOG_FILE is set, then rotated by
size as LOG_ROTATION says ("100MB,7": 100 MB per file, 7 files kept). A worker's lines also name
the worker (its INSTANCE_ID) and the logger, so the lines of a fleet can be told apart.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
from datetime import UTC, datetime
from typing import TextIO

from fingerv7.core.credentials import redact_urls

_CATEGORY = re.compile(r"^\[([A-Z]+)\]")
_SIZE = re.compile(r"^\s*(\d+)\s*(KB|MB|GB)?\s*$", re.IGNORECASE)
_UNITS = {None: 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `category` is the message's leading `[CATEGORY]`, if any."""

    def __init__(self, instance_id: str | None = None) -> None:
        super().__init__()
        self.instance_id = instance_id

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        match = _CATEGORY.match(message)
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "category": match.group(1) if match else None,
            "logger": record.name,
            "message": message,
        }
        if self.instance_id is not None:
            payload["instance_id"] = self.instance_id
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


class RedactingFilter(logging.Filter):
    """Replace URL credentials (user:password@, ?token=...) in every record before it is written:
    stream URLs reach log lines through error messages of libraries we do not control."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_urls(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def parse_rotation(text: str) -> tuple[int, int]:
    """'100MB,7' -> (104857600, 7). Raises ValueError with the expected form."""
    size_text, _, count_text = text.partition(",")
    match = _SIZE.match(size_text)
    if not match or not count_text.strip().isdigit():
        raise ValueError(f"LOG_ROTATION must look like '100MB,7' (size, files kept); got {text!r}")
    unit = match.group(2).upper() if match.group(2) else None
    return int(match.group(1)) * _UNITS[unit], int(count_text)


def configure_logging(
    level: str = "INFO",
    log_format: str = "plain",
    log_file: str | None = None,
    rotation: str = "100MB,7",
    *,
    stream: TextIO | None = None,
    instance_id: str | None = None,
) -> None:
    """Install one handler on the root logger (idempotent: replaces what was there).

    `stream` is where lines go without LOG_FILE (default stdout); `instance_id` names a worker.
    """
    handler: logging.Handler
    if log_file:
        max_bytes, backups = parse_rotation(rotation)
        handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
    else:
        handler = logging.StreamHandler(stream or sys.stdout)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(instance_id))
    else:
        source = f"{instance_id} %(name)s: " if instance_id else ""
        handler.setFormatter(
            logging.Formatter(
                f"%(asctime)s [%(levelname)s] {source}%(message)s", "%Y-%m-%d %H:%M:%S"
            )
        )
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpcore", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
