"""`fingerv7 streams import|list` against a real database named by DATABASE_URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fingerv7.cli.main import app
from fingerv7.orchestrator.settings import OrchestratorSettings

RADIOS_CSV = (
    "url,name,index,cidade,regiao\n"
    "https://a.example/live,Rádio A,0,São Paulo,Sudeste\n"
    "https://b.example/live,Radio B,1,Recife,Nordeste\n"
)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """DATABASE_URL as a user writes it: plain sqlite:/// or postgresql:// (no driver)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fingerv7.db'}"
    pg_url: str = request.getfixturevalue("pg_url")
    return pg_url.replace("postgresql+psycopg://", "postgresql://", 1)


def invoke(database_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["streams", *args], env={"DATABASE_URL": database_url})
    return result.exit_code, result.stdout, result.stderr


def test_import_then_list_then_reimport(database_url: str, tmp_path: Path) -> None:
    radios = tmp_path / "radios.csv"
    radios.write_text(RADIOS_CSV, encoding="utf-8")

    code, out, err = invoke(database_url, "import", str(radios))
    assert (code, err) == (0, "")
    assert "2 new, 0 updated, 0 unchanged, 0 deactivated" in out

    code, out, _ = invoke(database_url, "list", "--json")
    assert code == 0
    assert json.loads(out) == [
        {
            "id": 0,
            "url": "https://a.example/live",
            "name": "Rádio A",
            "active": True,
            "metadata": {"cidade": "São Paulo", "regiao": "Sudeste"},
        },
        {
            "id": 1,
            "url": "https://b.example/live",
            "name": "Radio B",
            "active": True,
            "metadata": {"cidade": "Recife", "regiao": "Nordeste"},
        },
    ]

    code, out, _ = invoke(database_url, "import", str(radios))
    assert code == 0
    assert "0 new, 0 updated, 2 unchanged" in out


def test_deactivate_missing_and_list_all(database_url: str, tmp_path: Path) -> None:
    radios = tmp_path / "radios.csv"
    radios.write_text(RADIOS_CSV, encoding="utf-8")
    only_b = tmp_path / "only_b.json"
    only_b.write_text(json.dumps([{"index": 1, "url": "https://b.example/live", "name": "B"}]))
    assert invoke(database_url, "import", str(radios))[0] == 0

    code, out, _ = invoke(database_url, "import", str(only_b), "--deactivate-missing")
    assert code == 0
    assert "0 new, 1 updated, 0 unchanged, 1 deactivated" in out

    code, out, _ = invoke(database_url, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["id", "active", "region", "name", "url"]
    assert lines[1].split() == ["1", "yes", "-", "B", "https://b.example/live"]
    assert lines[-1].startswith("1 stream(s), 1 active")

    code, out, _ = invoke(database_url, "list", "--all")
    assert code == 0
    assert out.splitlines()[-1].startswith("2 stream(s), 1 active")


def test_invalid_file_writes_nothing_and_exits_nonzero(database_url: str, tmp_path: Path) -> None:
    radios = tmp_path / "radios.csv"
    radios.write_text(RADIOS_CSV, encoding="utf-8")
    assert invoke(database_url, "import", str(radios))[0] == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("url,name,index\nhttps://ok.example/,Renamed,0\nftp://x,Bad,9\n", "utf-8")

    code, _, err = invoke(database_url, "import", str(bad))

    assert code == 1
    assert "line 3: url 'ftp://x' is not an http(s) URL" in err
    assert "nothing was imported" in err
    code, out, _ = invoke(database_url, "list", "--json")
    assert code == 0
    assert [stream["name"] for stream in json.loads(out)] == ["Rádio A", "Radio B"]


def test_list_before_any_import_explains_what_to_do(tmp_path: Path) -> None:
    code, _, err = invoke(f"sqlite:///{tmp_path / 'empty.db'}", "list")

    assert code == 1
    assert "table 'streams' not found" in err
    assert "fingerv7 streams import FILE" in err


@pytest.mark.integration
def test_unreachable_database_is_reported_without_password(tmp_path: Path) -> None:
    radios = tmp_path / "radios.csv"
    radios.write_text(RADIOS_CSV, encoding="utf-8")

    code, out, err = invoke(
        "postgresql://orch:hunter2-secret@127.0.0.1:1/orch?connect_timeout=2", "list"
    )

    assert code == 1
    assert "cannot connect to postgresql://127.0.0.1:1/orch" in err
    assert "hunter2-secret" not in out + err


@pytest.mark.acceptance
def test_installed_command_imports_in_a_fresh_directory(tmp_path: Path) -> None:
    (tmp_path / "radios.csv").write_text(RADIOS_CSV, encoding="utf-8")
    command = Path(sys.executable).with_name("fingerv7")
    environment = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}

    completed = subprocess.run(
        [str(command), "streams", "import", "radios.csv"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert "into sqlite:///./fingerv7.db: 2 new" in completed.stdout
    assert (tmp_path / "fingerv7.db").is_file()  # the embedded default, in the working directory


def test_invalid_file_does_not_even_create_the_database(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"url": "https://ok.example/"}]', encoding="utf-8")
    database = tmp_path / "fingerv7.db"

    code, _, err = invoke(f"sqlite:///{database}", "import", str(bad))

    assert code == 1
    assert "record 1: name is missing" in err
    assert not database.exists()


def test_import_reads_dot_env_like_the_orchestrator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "from-dot-env.db"
    (tmp_path / ".env").write_text(f"DATABASE_URL=sqlite:///{database}\n", encoding="utf-8")
    (tmp_path / "radios.csv").write_text(RADIOS_CSV, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)

    result = CliRunner().invoke(app, ["streams", "import", "radios.csv"])

    assert result.exit_code == 0, result.stderr
    assert f"into sqlite:///{database}: 2 new" in result.stdout
    assert OrchestratorSettings().database_url.get_secret_value() == f"sqlite:///{database}"
