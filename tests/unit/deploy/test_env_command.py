"""`fingerv7 env`: per-instance env files, as the manual's deploy script made them."""

from __future__ import annotations

import stat
from pathlib import Path

from typer.testing import CliRunner

from fingerv7.cli.env import parse_env_file
from fingerv7.cli.main import app

runner = CliRunner()


def _read(path: Path) -> dict[str, str]:
    return parse_env_file(path.read_text(encoding="utf-8"))


def test_writes_one_file_per_instance(tmp_path: Path) -> None:
    result = runner.invoke(app, ["env", "--instances", "8", "--out", str(tmp_path)])

    assert result.exit_code == 0, result.output
    files = sorted(path.name for path in tmp_path.iterdir())
    assert files == [f"fingerv7-{n:03d}.env" for n in range(1, 9)]
    third = _read(tmp_path / "fingerv7-003.env")
    assert third["INSTANCE_ID"] == "fingerv7-003"
    assert third["SERVER_ID"] == "3"
    assert third["TOTAL_SERVERS"] == "8"
    assert third["POSTGRES_PASSWORD"] == "<postgres-password>"
    assert third["WIREGUARD_PRIVATE_KEY"] == "<wireguard-private-key>"
    assert third["PROCESSOR"] == "fingerprint"  # the documented deployment identifies songs
    ports = [_read(tmp_path / f"fingerv7-{n:03d}.env")["WORKER_HTTP_PORT"] for n in range(1, 9)]
    assert ports == [str(8081 + n) for n in range(8)]  # one metrics port per instance
    assert stat.S_IMODE((tmp_path / "fingerv7-003.env").stat().st_mode) == 0o600
    assert "Replace every <placeholder>" in result.output


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    runner.invoke(app, ["env", "-n", "2", "--out", str(tmp_path)])
    (tmp_path / "fingerv7-002.env").write_text("EDITED=1\n", encoding="utf-8")

    refused = runner.invoke(app, ["env", "-n", "3", "--out", str(tmp_path)])

    assert refused.exit_code == 1
    assert "already exist" in refused.output and "--force" in refused.output
    assert (tmp_path / "fingerv7-002.env").read_text(encoding="utf-8") == "EDITED=1\n"
    assert not (tmp_path / "fingerv7-003.env").exists()  # all or nothing

    forced = runner.invoke(app, ["env", "-n", "3", "--out", str(tmp_path), "--force"])

    assert forced.exit_code == 0, forced.output
    assert _read(tmp_path / "fingerv7-002.env")["INSTANCE_ID"] == "fingerv7-002"


def test_base_file_fills_values_and_keeps_instances_distinct(tmp_path: Path) -> None:
    base = tmp_path / "worker.env"
    base.write_text(
        "# filled in\nexport POSTGRES_PASSWORD='pw-from-base'\nINSTANCE_ID=ignored\n"
        "EXTRA_SETTING=kept\nWORKER_HTTP_PORT=9100\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"

    result = runner.invoke(app, ["env", "-n", "2", "--out", str(out), "--base", str(base)])

    assert result.exit_code == 0, result.output
    first = _read(out / "fingerv7-001.env")
    assert first["POSTGRES_PASSWORD"] == "pw-from-base"
    assert first["EXTRA_SETTING"] == "kept"
    assert first["INSTANCE_ID"] == "fingerv7-001"
    assert first["WORKER_HTTP_PORT"] == "9100"
    assert _read(out / "fingerv7-002.env")["WORKER_HTTP_PORT"] == "9101"
    assert "Replace every" not in result.output


def test_manual_table_name_becomes_the_documented_one(tmp_path: Path) -> None:
    """A worker reads DB_TABLE_NAME as music_log, the orchestrator as its streams table: a
    generated file must carry only MUSIC_LOG_TABLE, with the base file's value."""
    base = tmp_path / "worker.env"
    base.write_text("DB_TABLE_NAME=plays\n", encoding="utf-8")
    out = tmp_path / "out"

    result = runner.invoke(app, ["env", "-n", "1", "--out", str(out), "--base", str(base)])

    assert result.exit_code == 0, result.output
    written = _read(out / "fingerv7-001.env")
    assert written["MUSIC_LOG_TABLE"] == "plays"
    assert "DB_TABLE_NAME" not in written


def test_start_and_prefix_add_instances_later(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["env", "-n", "2", "--start", "9", "--prefix", "radio", "--out", str(tmp_path)]
    )

    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["radio-009.env", "radio-010.env"]
    assert _read(tmp_path / "radio-010.env")["TOTAL_SERVERS"] == "10"


def test_rejects_an_invalid_instance_id(tmp_path: Path) -> None:
    result = runner.invoke(app, ["env", "-n", "1", "--prefix", "bad id", "--out", str(tmp_path)])

    assert result.exit_code == 1
    assert "[A-Za-z0-9._-]" in result.output
    assert list(tmp_path.iterdir()) == []


def test_rejects_numbers_past_999(tmp_path: Path) -> None:
    result = runner.invoke(app, ["env", "-n", "5", "--start", "997", "--out", str(tmp_path)])

    assert result.exit_code == 1
    assert "1..999" in result.output


def test_each_file_gets_its_own_key_and_never_the_secret(tmp_path: Path, monkeypatch) -> None:
    from fingerv7.core.credentials import instance_of_key

    secret = "instance-secret-for-tests"
    monkeypatch.setenv("ORCHESTRATOR_INSTANCE_SECRET", secret)
    base = tmp_path / "worker.env"
    base.write_text(
        "ORCHESTRATOR_API_KEY=the-old-shared-key\nORCHESTRATOR_INSTANCE_SECRET=leak\n"
        "ORCHESTRATOR_ADMIN_KEY=admin-leak\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"

    result = runner.invoke(app, ["env", "-n", "3", "--out", str(out), "--base", str(base)])

    assert result.exit_code == 0, result.output
    for number in (1, 2, 3):
        path = out / f"fingerv7-{number:03d}.env"
        text = path.read_text(encoding="utf-8")
        key = _read(path)["ORCHESTRATOR_API_KEY"]
        assert instance_of_key(secret, key) == f"fingerv7-{number:03d}"
        for leak in (secret, "the-old-shared-key", "leak", "ORCHESTRATOR_INSTANCE_SECRET"):
            assert leak not in text
        others = [n for n in (1, 2, 3) if n != number]
        assert all(instance_of_key(secret, key) != f"fingerv7-{n:03d}" for n in others)

    printed = runner.invoke(app, ["instance-key", "fingerv7-002"])
    assert printed.exit_code == 0
    assert printed.output.strip() == _read(out / "fingerv7-002.env")["ORCHESTRATOR_API_KEY"]


def test_without_a_secret_keys_are_placeholders(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ORCHESTRATOR_INSTANCE_SECRET", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here

    result = runner.invoke(app, ["env", "-n", "1", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    key = _read(tmp_path / "out" / "fingerv7-001.env")["ORCHESTRATOR_API_KEY"]
    assert key == "<output of: fingerv7 instance-key fingerv7-001>"

    refused = runner.invoke(app, ["instance-key", "fingerv7-001"])
    assert refused.exit_code == 2
    assert "ORCHESTRATOR_INSTANCE_SECRET is not set" in refused.output
