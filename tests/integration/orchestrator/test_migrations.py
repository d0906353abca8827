"""Schema migrations: idempotent, and safe when several processes start at once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, inspect, text

from fingerv7.storage.migrate import upgrade_to_head

pytestmark = pytest.mark.integration

TABLES = {
    "instances",
    "monitored_streams",
    "assignments",
    "stream_changes",
    "fleet_state",
    "streams",
}


def test_concurrent_upgrades_on_postgresql_apply_once(pg_url: str) -> None:
    errors: list[BaseException] = []

    def upgrade() -> None:
        try:
            upgrade_to_head(pg_url)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=upgrade) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        assert TABLES <= set(inspect(conn).get_table_names())
        assert conn.execute(text("SELECT count(*) FROM fleet_state")).scalar_one() == 1
    engine.dispose()


def test_upgrading_twice_changes_nothing(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade_to_head(url)
    upgrade_to_head(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        assert TABLES <= set(inspect(conn).get_table_names())
        assert conn.execute(text("SELECT count(*) FROM fleet_state")).scalar_one() == 1
    engine.dispose()


def test_postgresql_instances_keep_room_for_heartbeat_updates(pg_url: str) -> None:
    upgrade_to_head(pg_url)
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        options = conn.execute(
            text("SELECT reloptions FROM pg_class WHERE relname = 'instances'")
        ).scalar_one()
    engine.dispose()
    assert options == ["fillfactor=50"]


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_a_new_leaders_quarantine_read_uses_the_audit_indexes(
    backend: str, pg_url: str, tmp_path
) -> None:
    url = pg_url if backend == "postgresql" else f"sqlite:///{tmp_path / 'fleet.db'}"
    upgrade_to_head(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        indexes = {index["name"]: index for index in inspect(conn).get_indexes("stream_changes")}
    engine.dispose()
    assert indexes["ix_stream_changes_stream_id"]["column_names"] == ["stream_id", "id"]
    assert indexes["ix_stream_changes_quarantine"]["column_names"] == ["stream_id"]
