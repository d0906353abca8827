"""Compose files: valid against the Compose Specification schema, and consistent with each other.

Docker cannot run on the test machines, so `docker compose config` is replaced by the schema
(vendored from the check-jsonschema package, see deploy/compose/compose-spec.README.md) and by
the cross-file checks Compose would make when merging the override.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from fingerv7.cli.env import parse_env_file

from .contract import DEPLOY, REPO_ROOT, load_yaml

COMPOSE = DEPLOY / "compose"
FILES = sorted(COMPOSE.glob("docker-compose*.yml"))
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$|WEBHOOK_URL|DATABASE_URL|REDIS_URL")
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((COMPOSE / "compose-spec.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def _services(name: str) -> dict[str, Any]:
    services: dict[str, Any] = load_yaml(COMPOSE / name)["services"]
    return services


def _workers(services: dict[str, Any]) -> dict[str, Any]:
    return {name: spec for name, spec in services.items() if name.startswith("worker")}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_validates_against_the_compose_schema(path: Path) -> None:
    errors = [error.message for error in _validator().iter_errors(load_yaml(path))]

    assert errors == []


def test_the_schema_does_reject_a_broken_file() -> None:
    broken = load_yaml(COMPOSE / "docker-compose.yml")
    broken["services"]["orchestrator"]["restart_policy"] = "always"  # not a service key
    broken["services"]["postgres"]["volumes"] = {"orchestrator-db": "/data"}  # must be a list

    messages = " | ".join(error.message for error in _validator().iter_errors(broken))

    assert "'restart_policy' was unexpected" in messages
    assert "is not of type 'array'" in messages


def test_base_stack_runs_orchestrator_databases_and_numbered_workers() -> None:
    services = _services("docker-compose.yml")
    workers = _workers(services)

    assert {"orchestrator", "postgres", "redis"} <= set(services)
    assert len(workers) >= 2
    environments = [spec["environment"] for spec in workers.values()]
    assert len({env["INSTANCE_ID"] for env in environments}) == len(workers)
    assert sorted(int(env["SERVER_ID"]) for env in environments) == list(range(1, len(workers) + 1))
    assert {env["TOTAL_SERVERS"] for env in environments} == {str(len(workers))}
    assert all(env["ORCHESTRATOR_URL"] == "http://orchestrator:8000" for env in environments)


def test_workers_can_move_into_a_gluetun_network_namespace() -> None:
    base = _services("docker-compose.yml")
    vpn = _services("docker-compose.vpn.yml")
    base_workers = _workers(base)
    gluetuns = {name for name, spec in vpn.items() if "gluetun" in str(spec.get("image", ""))}

    assert set(_workers(vpn)) == set(base_workers)
    assert set(vpn) - gluetuns <= set(base)  # the override only changes existing services
    for name, spec in _workers(vpn).items():
        mode = spec["network_mode"]
        assert mode.startswith("service:") and mode.removeprefix("service:") in gluetuns
        assert mode.removeprefix("service:") in spec["depends_on"]
        # network_mode cannot be combined with these, so the base workers must not set them.
        assert not {"networks", "ports", "hostname", "network_mode"} & set(base_workers[name])
    for name in gluetuns:
        assert vpn[name]["cap_add"] == ["NET_ADMIN"]


def test_single_worker_file_runs_behind_its_own_gluetun() -> None:
    services = _services("docker-compose.worker.yml")

    assert services["worker"]["network_mode"] == "service:gluetun"
    assert "gluetun" in services["worker"]["depends_on"]


def test_easypanel_file_follows_easypanel_rules() -> None:
    services = _services("docker-compose.easypanel.yml")

    assert {"orchestrator", "postgres", "redis"} == set(services)
    for spec in services.values():
        assert "ports" not in spec and "container_name" not in spec
    assert services["orchestrator"]["expose"] == ["8000"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_depends_on_and_build_files_exist(path: Path) -> None:
    services: dict[str, Any] = load_yaml(path)["services"]
    known = set(services) | set(_services("docker-compose.yml"))

    for spec in services.values():
        assert set(spec.get("depends_on", {})) <= known
        if "build" in spec:
            context = (path.parent / spec["build"]["context"]).resolve()
            assert context == REPO_ROOT
            assert (context / spec["build"]["dockerfile"]).is_file()
        for volume in spec.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (path.parent / source).is_file()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_secrets_come_only_from_the_environment(path: Path) -> None:
    for service, spec in load_yaml(path)["services"].items():
        for key, value in dict(spec.get("environment") or {}).items():
            if SECRET_KEY.search(key):
                text = str(value)
                assert INTERPOLATION.search(text), f"{service}.{key} holds a literal secret"
                # A URL may be literal around the interpolated credentials.
                assert "@" not in text or re.search(r":\$\{[A-Z_]+[^}]*\}@", text), (
                    f"{service}.{key}: credentials in the URL must be interpolated"
                )


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_interpolated_variable_is_in_an_env_example(path: Path) -> None:
    documented = set(parse_env_file((REPO_ROOT / ".env.example").read_text(encoding="utf-8")))
    documented |= set(parse_env_file((DEPLOY / "worker.env.example").read_text(encoding="utf-8")))

    used = set(INTERPOLATION.findall(path.read_text(encoding="utf-8")))

    assert used, "the file interpolates nothing: the check would prove nothing"
    assert used - documented == set()
