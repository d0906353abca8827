"""Layers point one way: the pure core imports nothing of ours; storage sits below the
orchestrator, which sits below the API; what sits below the worker never imports it, and the
worker and the orchestrator's side never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "fingerv7"

# Every package and module of fingerv7 but the core itself: the core imports none of them.
ABOVE_CORE = sorted(
    path.stem
    for path in PACKAGE.iterdir()
    if (path.is_dir() or path.suffix == ".py") and path.stem != "core" and path.stem[0] != "_"
)

# module or package (relative to src/fingerv7) → packages it must not import
FORBIDDEN = {
    "audio": ("fingerv7.worker", "fingerv7.api", "fingerv7.orchestrator"),
    "playlog": ("fingerv7.worker", "fingerv7.api", "fingerv7.orchestrator"),
    "retry.py": ("fingerv7.worker", "fingerv7.audio", "fingerv7.playlog"),
    "processing.py": ("fingerv7.worker", "fingerv7.audio", "fingerv7.playlog"),
    "worker/sample_streams.py": ("fingerv7.testing",),
    "worker": ("fingerv7.api", "fingerv7.orchestrator"),
    "http_limits.py": ("fingerv7.api", "fingerv7.worker", "fingerv7.orchestrator"),
    "core": tuple(f"fingerv7.{name}" for name in ABOVE_CORE),
    "storage": ("fingerv7.api", "fingerv7.orchestrator", "fingerv7.worker", "fingerv7.cli"),
    "orchestrator": ("fingerv7.api", "fingerv7.worker", "fingerv7.cli"),
    "api": ("fingerv7.worker", "fingerv7.cli"),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("where", FORBIDDEN)
def test_lower_layers_do_not_import_higher_ones(where: str) -> None:
    target = PACKAGE / where
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    assert files
    offending = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in files
        for name in _imports(path)
        if name.startswith(FORBIDDEN[where])
    }
    assert offending == set()


@pytest.mark.parametrize("where", ["api", "orchestrator"])
def test_no_sqlalchemy_error_is_handled_above_storage(where: str) -> None:
    """The stores raise `fingerv7.storage.errors`; their driver's errors stay below them."""
    offending = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in sorted((PACKAGE / where).rglob("*.py"))
        for name in _imports(path)
        if name.startswith("sqlalchemy.exc")
    }
    assert offending == set()
