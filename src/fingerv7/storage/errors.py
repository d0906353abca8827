"""The orchestrator's storage errors: what its stores raise instead of their driver's errors.

Callers above `storage/` (the API, the orchestrator's loops) handle these and never a SQLAlchemy
exception, as httpx's `map_httpcore_exceptions` keeps httpcore's errors inside httpx. The mapping
is one context manager around a whole transaction (`with map_database_errors(): ...`), a no-op on
success, so the hot paths (heartbeat flushes, registration batches) pay nothing per row.

- `DatabaseFailure`: the database could not be reached or failed the statement (any DBAPI error).
- `ValueRefused`, a `DatabaseFailure`: a value the database cannot store (an out-of-range number).
- `DatabaseBusy`: no pooled connection became free within the pool's timeout.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

__all__ = [
    "DatabaseBusy",
    "DatabaseFailure",
    "StorageError",
    "ValueRefused",
    "map_database_errors",
]


class StorageError(Exception):
    """A store could not carry out an operation on the orchestrator's database.

    `kind` names the error the database layer raised (`OperationalError`, say) and `cause` the
    driver's own (`ConnectionTimeout`), for log lines; the message is the driver's reason.
    """

    def __init__(self, message: str, *, kind: str, cause: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.cause = cause


class DatabaseFailure(StorageError):
    """The database could not be reached, or it failed the statement; retrying may succeed."""


class ValueRefused(DatabaseFailure):
    """The database refused a value it cannot store: the caller's data, not an outage."""


class DatabaseBusy(StorageError):
    """Every pooled connection stayed in use for the pool's whole timeout."""


class _DatabaseErrorMap:
    """Re-raises SQLAlchemy's errors as storage errors; lets everything else through."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(exc, DBAPIError):
            failure = ValueRefused if isinstance(exc, DataError) else DatabaseFailure
            cause = type(exc.orig).__name__
            message = f"{type(exc).__name__}: {exc.orig}"
            raise failure(message, kind=type(exc).__name__, cause=cause) from exc
        if isinstance(exc, PoolTimeout):
            kind = type(exc).__name__
            raise DatabaseBusy(f"{kind}: {exc}", kind=kind, cause=kind) from exc


_MAP = _DatabaseErrorMap()


def map_database_errors() -> _DatabaseErrorMap:
    """`with map_database_errors(): ...` around a transaction: its SQLAlchemy errors leave it as
    `DatabaseFailure` / `ValueRefused` / `DatabaseBusy`, chained to the original (one shared,
    stateless object: entering it allocates nothing)."""
    return _MAP
