"""Dockerfiles: slim multi-stage builds, non-root, a Python healthcheck, a real entry point.

Images are not built here (no Docker on the test machines); these checks read the files.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer.main

from fingerv7.cli.main import app

from .contract import CLI_COMMANDS, DEPLOY, REPO_ROOT

DOCKERFILES = {
    "orchestrator": DEPLOY / "docker" / "Dockerfile.orchestrator",
    "worker": DEPLOY / "docker" / "Dockerfile.worker",
}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def _instructions(path: Path) -> list[Instruction]:
    """Instructions with line continuations joined and comments dropped."""
    instructions, pending = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def _exec_form(instruction: Instruction) -> list[str]:
    arguments = instruction.arguments
    if instruction.keyword == "HEALTHCHECK":
        arguments = arguments[arguments.index("CMD ") + 4 :]
    parsed = json.loads(arguments)
    assert isinstance(parsed, list)
    return [str(part) for part in parsed]


@pytest.mark.parametrize("role", DOCKERFILES)
def test_multi_stage_slim_python_311(role: str) -> None:
    stages = [i.arguments for i in _instructions(DOCKERFILES[role]) if i.keyword == "FROM"]

    assert len(stages) >= 2
    assert all(stage.split()[0] == "python:3.11-slim" for stage in stages)
    assert stages[0].endswith("AS build")
    copies = [i.arguments for i in _instructions(DOCKERFILES[role]) if i.keyword == "COPY"]
    assert any(copy.startswith("--from=build ") for copy in copies)


@pytest.mark.parametrize("role", DOCKERFILES)
def test_runs_as_a_non_root_user(role: str) -> None:
    instructions = _instructions(DOCKERFILES[role])
    last_from = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    users = [ins.arguments for ins in instructions[last_from:] if ins.keyword == "USER"]

    assert users and users[-1] not in ("root", "0")


@pytest.mark.parametrize("role", DOCKERFILES)
def test_healthcheck_uses_python_against_health(role: str) -> None:
    (healthcheck,) = [i for i in _instructions(DOCKERFILES[role]) if i.keyword == "HEALTHCHECK"]
    command = _exec_form(healthcheck)

    assert command[:2] == ["python", "-c"]
    assert "/health" in command[2]
    compile(command[2], "<healthcheck>", "exec")  # the one-liner is valid Python


@pytest.mark.parametrize("role", DOCKERFILES)
def test_entrypoint_is_a_fingerv7_subcommand(role: str) -> None:
    (entrypoint,) = [i for i in _instructions(DOCKERFILES[role]) if i.keyword == "ENTRYPOINT"]
    command = _exec_form(entrypoint)

    assert command[0] == "fingerv7"
    assert command[1] == role
    assert command[1] in CLI_COMMANDS


def test_orchestrator_listens_on_all_interfaces() -> None:
    (entrypoint,) = [
        i for i in _instructions(DOCKERFILES["orchestrator"]) if i.keyword == "ENTRYPOINT"
    ]

    assert _exec_form(entrypoint)[2:] == ["--host", "0.0.0.0"]


@pytest.mark.parametrize("role", DOCKERFILES)
def test_build_copies_only_files_that_the_context_keeps(role: str) -> None:
    readme = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "readme"
    ]
    ignored = {
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    sources = set()
    for instruction in _instructions(DOCKERFILES[role]):
        if instruction.keyword == "COPY" and not instruction.arguments.startswith("--from"):
            sources |= set(instruction.arguments.split()[:-1])

    assert sources == {"pyproject.toml", readme, "src"}
    assert not sources & ignored
    assert (REPO_ROOT / "src" / "fingerv7").is_dir()


def test_the_cli_offers_the_env_command() -> None:
    names = {command.name for command in typer.main.get_command(app).commands.values()}  # type: ignore[attr-defined]

    assert "env" in names
