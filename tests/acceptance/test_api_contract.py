"""The OpenAPI document is the contract: schemathesis drives a real `fingerv7 orchestrator`
process through stateful sequences (register, then call on what it returned) and checks that no
answer is a 5xx and every answer matches the document (status, content type, body schema).

Each operation alone (valid and invalid input), then stateful sequences; bounded
(FINGERV7_CONTRACT_EXAMPLES cases per operation and mode, and sequences of at most 6 calls) so it
stays a small part of the suite. The long search is `schemathesis run` (docs/security.md).
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.acceptance.fleet_processes import FINGERV7, ORCHESTRATOR_ENV, free_port, wait_until

pytestmark = pytest.mark.acceptance

CONTRACT_EXAMPLES = int(os.environ.get("FINGERV7_CONTRACT_EXAMPLES", "10"))
CAPABILITIES = ["audio_fingerprinting"]
ADMIN_KEY = "contract-admin-key"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture
def orchestrator_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ
    }
    env |= ORCHESTRATOR_ENV | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'orchestrator.db'}",
        "ORCHESTRATOR_ADMIN_KEY": ADMIN_KEY,
        "ORCHESTRATOR_INSTANCE_SECRET": "contract-secret",
    }
    log = (tmp_path / "orchestrator.log").open("wb")
    process = subprocess.Popen(
        [FINGERV7, "orchestrator", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        assert process.poll() is None, (tmp_path / "orchestrator.log").read_text()
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code < 500
        except httpx.TransportError:
            return False

    try:
        wait_until(answering, 60, "the orchestrator to answer")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
        output = (tmp_path / "orchestrator.log").read_text()
        assert "Traceback" not in output, output[-4000:]


def _with_links(document: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI links from /register to the calls that name the registered instance."""
    paths = document["paths"]
    targets = {
        "GetInstance": ("/instances/{instance_id}", "get"),
        "Assignment": ("/instances/{instance_id}/assignment", "get"),
        "Drain": ("/instances/{instance_id}/drain", "post"),
        "Deregister": ("/instances/{instance_id}", "delete"),
    }
    links = {
        name: {
            "operationId": paths[path][method]["operationId"],
            "parameters": {"instance_id": "$response.body#/instance_id"},
        }
        for name, (path, method) in targets.items()
    }
    links["Heartbeat"] = {
        "operationId": paths["/heartbeat"]["post"]["operationId"],
        "requestBody": {"instance_id": "$response.body#/instance_id", "stream_ids": []},
    }
    paths["/register"]["post"]["responses"]["200"]["links"] = links
    return document


# What uvicorn answers itself to a request it cannot parse as HTTP (negative cases may send a
# header such as `Content-Length: T`): the request never reaches the application, so no
# operation of the document describes it.
MALFORMED_HTTP = (400, "Invalid HTTP request received.")


def _checked(case: Any, response: Any, problems: list[str]) -> None:
    """Run the checks; collect failures (the server's state outlives one sequence, so Hypothesis
    could not replay a failing one faithfully to shrink it)."""
    if (response.status_code, response.text) == MALFORMED_HTTP:
        return
    try:
        case.validate_response(response, checks=CHECKS)
    except Exception as failure:
        problems.append(f"{case.method} {case.formatted_path}: {failure}"[:3000])


def _prepare(case: Any) -> None:
    if case.operation.path.endswith("/assignment"):
        case.query = (case.query or {}) | {"wait": 0}  # answer now, not in 25 s


def test_the_api_keeps_its_openapi_contract(orchestrator_url: str) -> None:
    document = httpx.get(f"{orchestrator_url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(_with_links(document))
    schema.config.update(base_url=orchestrator_url)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=orchestrator_url, headers=admin) as client:
        registered = client.post(
            "/register",
            json={"instance_id": "known-1", "max_streams": 3, "capabilities": CAPABILITIES},
        )
        assert registered.status_code == 200
    problems: list[str] = []
    statuses: Counter[tuple[str, int]] = Counter()
    bounded = settings(
        max_examples=CONTRACT_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )

    # Every operation on its own, with valid and with invalid input.
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        raw = document["paths"][operation.path][operation.method.lower()]
        has_input = bool(raw.get("parameters") or raw.get("requestBody"))
        modes = [GenerationMode.POSITIVE] + [GenerationMode.NEGATIVE] * has_input
        for mode in modes:

            @bounded
            @given(case=operation.as_strategy(generation_mode=mode))
            def call_once(case: Any) -> None:
                _prepare(case)
                response = case.call(headers=admin, timeout=30)
                statuses[(case.operation.label, response.status_code)] += 1
                _checked(case, response, problems)

            call_once()

    # Sequences: register, then act on what the answer named.
    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": admin, "timeout": 30}

        def before_call(self, case: Any) -> None:
            _prepare(case)

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            statuses[(case.operation.label, response.status_code)] += 1
            _checked(case, response, problems)

    Workflow.run(settings=settings(bounded, stateful_step_count=6))

    assert not problems, "\n\n".join(problems[:5])
    assert not [key for key in statuses if key[1] >= 500]
    answered = {label for label, code in statuses if code < 300}
    assert {"POST /register", "POST /heartbeat", "GET /instances", "GET /health"} <= answered
