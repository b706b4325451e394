"""The requests Locust sends, derived from `CloudFlowClient` (the one module that knows API paths).

A locustfile may not spell a path. Instead the parent process calls the client's methods on a
recording transport (nothing leaves the process) and hands Locust the method, path and body that
came out. Pointing the suite at another deployment still means editing client.py only.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Callable

import httpx

from ..client import CloudFlowClient

_BASE = "http://recording.invalid"


@dataclass(frozen=True)
class RequestSpec:
    method: str
    path: str                      # path + query, as the client would send it
    body: dict | None = None
    name: str = ""                 # Locust's stats name (method + path template)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "RequestSpec":
        return cls(**data)


def record(call: Callable[[CloudFlowClient], object], name: str | None = None) -> RequestSpec:
    """The one request `call(client)` makes, captured instead of sent."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    http = httpx.Client(base_url=_BASE, transport=httpx.MockTransport(handler))
    try:
        call(CloudFlowClient(_BASE, token="recording", http=http))
    finally:
        http.close()
    if len(seen) != 1:
        raise ValueError(f"expected exactly one request, the client made {len(seen)}")
    request = seen[0]
    path = request.url.raw_path.decode("ascii")
    body = json.loads(request.content) if request.content else None
    return RequestSpec(request.method, path, body, name or f"{request.method} {request.url.path}")


def list_workflows() -> RequestSpec:
    """The guide's own rate-limit probe (`curl -I .../api/v1/workflows`): a counted, read-only call."""
    return record(lambda c: c.list_workflows())


def execute(workflow_id: str) -> RequestSpec:
    return record(lambda c: c.execute(workflow_id), name="POST /api/v1/workflows/{wf}/execute")


def health() -> RequestSpec:
    """An endpoint outside the rate limiter (benchmarks: unlimited vs limited)."""
    return record(lambda c: c.health())


def openapi() -> RequestSpec:
    """An unauthenticated, unlimited endpoint with no database work (framework baseline)."""
    return record(lambda c: c.openapi())
