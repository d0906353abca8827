"""Every YAML and JSON file under deploy/ parses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .contract import DEPLOY, load_yaml_documents

YAML_FILES = sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")])
JSON_FILES = sorted(DEPLOY.rglob("*.json"))


def test_the_deploy_folder_has_the_expected_files() -> None:
    names = {path.relative_to(DEPLOY).as_posix() for path in [*YAML_FILES, *JSON_FILES]}

    assert {
        "compose/docker-compose.yml",
        "compose/docker-compose.vpn.yml",
        "compose/docker-compose.easypanel.yml",
        "compose/docker-compose.worker.yml",
        "kubernetes/kustomization.yaml",
        "prometheus/alerts.yml",
        "grafana/fingerv7-dashboard.json",
    } <= names


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_yaml_parses_into_mappings(path: Path) -> None:
    documents = load_yaml_documents(path)

    assert documents
    assert all(isinstance(document, dict) for document in documents)


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_json_parses(path: Path) -> None:
    assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict)
