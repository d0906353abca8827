"""Shared fixtures: real PostgreSQL and Redis on 127.0.0.1 (scripts/services starts them).

Each factory fixture makes something fresh (a database, a Redis key prefix) and removes it after
the test, so tests never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
import redis

PG_ADMIN_DSN = os.environ.get(
    "FINGERV7_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
pytest_plugins = ["tests.support.orchestrator"]

REDIS_TEST_URL = os.environ.get("FINGERV7_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _pg_url(database: str) -> str:
    """A SQLAlchemy URL (psycopg 3 driver) for `database` on the test server."""
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{database}"


@pytest.fixture
def make_pg_database() -> Iterator[Callable[[], str]]:
    """Factory: a new PostgreSQL database per call (its SQLAlchemy URL); dropped after."""
    created: list[str] = []

    def make() -> str:
        name = f"fv7_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return _pg_url(name)

    yield make
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(make_pg_database: Callable[[], str]) -> str:
    """One fresh PostgreSQL database (SQLAlchemy URL) for the test."""
    return make_pg_database()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A unique Redis key prefix; every key under it is deleted after the test."""
    prefix = f"fv7test:{uuid.uuid4().hex[:10]}"
    yield prefix
    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_url() -> str:
    return REDIS_TEST_URL
