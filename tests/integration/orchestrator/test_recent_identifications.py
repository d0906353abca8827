"""`GET /identifications/recent`: the newest plays of music_log, for the dashboard."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from fingerv7.playlog.table import CREATE_TABLE_SQL

pytestmark = pytest.mark.integration


async def test_newest_plays_first_from_the_external_database(
    make_pg_database, tmp_path, start_orchestrator
):
    source_url = make_pg_database()
    engine = create_engine(source_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE streams (id int primary key, url text, name text)"))
        conn.execute(text(CREATE_TABLE_SQL.format(table="music_log")))
        conn.execute(
            text(
                "INSERT INTO music_log (date, time, name, artist, song_title, identified_by) "
                "VALUES ('2026-11-25', '10:00:00', 'Radio 1', 'A', 'First', 'w1'), "
                "('2026-11-25', '10:04:00', 'Radio 2', 'B', 'Second', 'w2')"
            )
        )
    engine.dispose()
    orch = await start_orchestrator(
        database_url=f"sqlite:///{tmp_path / 'o.db'}",
        postgres_host="127.0.0.1",
        postgres_db=source_url.rsplit("/", 1)[1],
    )
    body = (await orch.client.get("/identifications/recent", params={"limit": 5})).json()
    assert body["available"] is True
    titles = [(p["song_title"], p["name"], p["time"]) for p in body["identifications"]]
    assert titles == [("Second", "Radio 2", "10:04:00"), ("First", "Radio 1", "10:00:00")]
    one = (await orch.client.get("/identifications/recent", params={"limit": 1})).json()
    assert len(one["identifications"]) == 1


async def test_no_music_log_yet_is_said_plainly(tmp_path, start_orchestrator):
    orch = await start_orchestrator(database_url=f"sqlite:///{tmp_path / 'o.db'}")
    body = (await orch.client.get("/identifications/recent")).json()
    assert body == {"available": False, "identifications": [], "time_zone": "America/Sao_Paulo"}
    assert (
        await orch.client.get("/identifications/recent", params={"limit": 0})
    ).status_code == 422


async def test_music_log_in_its_own_database_is_followed(
    make_pg_database, tmp_path, start_orchestrator
):
    music_url = make_pg_database()  # the workers' music_log: neither the state nor the streams DB
    engine = create_engine(music_url)
    with engine.begin() as conn:
        conn.execute(text(CREATE_TABLE_SQL.format(table="music_log")))
        conn.execute(
            text(
                "INSERT INTO music_log (date, time, name, artist, song_title, identified_by) "
                "VALUES ('2026-11-25', '10:00:00', 'Radio 1', 'A', 'Elsewhere', 'w1')"
            )
        )
    engine.dispose()
    orch = await start_orchestrator(
        database_url=f"sqlite:///{tmp_path / 'o.db'}",
        music_log_database_url=music_url.replace("postgresql+psycopg://", "postgresql://"),
    )
    body = (await orch.client.get("/identifications/recent")).json()
    assert body["available"] is True
    assert [p["song_title"] for p in body["identifications"]] == ["Elsewhere"]
