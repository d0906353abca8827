"""The HTTP client a worker uses to talk to the orchestrator (docs/protocol.md).

Errors come out as three kinds the agent handles differently: the orchestrator does not know us
(404: stop everything, register again), it cannot be reached or is failing (keep running, retry),
or it refused the request for a reason retrying will not fix (a person must act).
"""

from __future__ import annotations

import logging
from typing import TypeVar

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from fingerv7.retry import CircuitBreaker, retry_after_s
from fingerv7.worker.messages import (
    AssignmentAnswer,
    HeartbeatAnswer,
    HeartbeatRequest,
    RegisterAnswer,
    RegisterRequest,
)

logger = logging.getLogger("fingerv7.worker.client")

REQUEST_TIMEOUT_S = 10.0
LONG_POLL_MARGIN_S = 10.0
RETRY_AFTER_MAX_S = 60.0  # a misconfigured proxy's hour-long Retry-After must not park a worker

AnswerT = TypeVar("AnswerT", bound=BaseModel)


class OrchestratorError(Exception):
    """Base of every error the client raises."""


class InstanceUnknown(OrchestratorError):
    """The orchestrator answered 404: this instance is not registered (any more)."""


class OrchestratorUnavailable(OrchestratorError):
    """Connection failed, timed out, 5xx or 429, or the circuit breaker is open: retry later.

    `retry_after_s`: how long the orchestrator asked us to wait (its `Retry-After` when it sheds
    load), at most RETRY_AFTER_MAX_S; None when it did not say.
    """

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class OrchestratorRejected(OrchestratorError):
    """A 4xx other than 404/429 (bad key, invalid field): retrying the same call will not help."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"orchestrator refused the request ({status_code}): {detail}")
        self.status_code = status_code
        self.detail = detail


class OrchestratorClient:
    """Register, heartbeat and long-poll calls, guarded by one circuit breaker."""

    def __init__(
        self,
        base_url: str,
        instance_id: str,
        *,
        api_key: SecretStr | None = None,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"User-Agent": "fingerv7-worker"}
        if api_key is not None:
            headers["Authorization"] = f"Bearer {api_key.get_secret_value()}"
        self.instance_id = instance_id
        self.breaker = breaker or CircuitBreaker(failure_threshold=3, open_s=5.0)
        self.failures = 0
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=REQUEST_TIMEOUT_S,
            transport=transport,
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=4),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def register(self, request: RegisterRequest) -> RegisterAnswer:
        return await self._call(
            "POST", "/register", RegisterAnswer, json=request.model_dump(mode="json")
        )

    async def heartbeat(
        self, request: HeartbeatRequest, *, timeout_s: float | None = None
    ) -> HeartbeatAnswer:
        return await self._call(
            "POST",
            "/heartbeat",
            HeartbeatAnswer,
            json=request.model_dump(mode="json"),
            timeout_s=timeout_s,
        )

    async def wait_for_assignment(self, after_generation: int, wait_s: float) -> AssignmentAnswer:
        """Long-poll: returns when our generation passes `after_generation`, or after `wait_s`."""
        return await self._call(
            "GET",
            f"/instances/{self.instance_id}/assignment",
            AssignmentAnswer,
            params={"after_generation": after_generation, "wait": wait_s},
            timeout_s=wait_s + LONG_POLL_MARGIN_S,
        )

    async def _call(
        self,
        method: str,
        path: str,
        answer_type: type[AnswerT],
        *,
        json: object = None,
        params: dict[str, float | int] | None = None,
        timeout_s: float | None = None,
    ) -> AnswerT:
        if not self.breaker.allow():
            raise OrchestratorUnavailable("circuit breaker open after repeated failures")
        try:
            response = await self._http.request(
                method,
                path,
                json=json,
                params=params,
                timeout=timeout_s if timeout_s is not None else REQUEST_TIMEOUT_S,
            )
        except httpx.HTTPError as exc:
            self._failed()
            raise OrchestratorUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        return self._parse(method, path, response, answer_type)

    def _parse(
        self, method: str, path: str, response: httpx.Response, answer_type: type[AnswerT]
    ) -> AnswerT:
        status = response.status_code
        if status >= 500 or status == 429:
            self._failed()
            asked_s = retry_after_s(response.headers)
            wait_s = None if asked_s is None else min(asked_s, RETRY_AFTER_MAX_S)
            raise OrchestratorUnavailable(f"{method} {path}: HTTP {status}", wait_s)
        # Any answer below 500 means the orchestrator is up and talking to us.
        self.breaker.record_success()
        if status == 404:
            raise InstanceUnknown(_detail(response))
        if status >= 400:
            raise OrchestratorRejected(status, _detail(response))
        try:
            return answer_type.model_validate_json(response.content)
        except ValidationError as exc:
            raise OrchestratorRejected(
                status, f"answer to {method} {path} does not follow the protocol: {exc}"
            ) from exc

    def _failed(self) -> None:
        self.failures += 1
        self.breaker.record_failure()


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:200]
