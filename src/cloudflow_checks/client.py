"""The one module that knows CloudFlow's API paths (DESIGN.md: point the suite at another
deployment by editing this file). Methods return the raw httpx.Response: checks assert on status,
headers and bodies themselves, so nothing here hides a wrong answer.
"""
from __future__ import annotations

from typing import Any

import httpx

from . import exchanges

DEFAULT_TIMEOUT_S = 35.0  # just past the documented 30000 ms request cap (PERF-01)


class CloudFlowClient:
    """CloudFlow's public API, as one caller (anonymous, or with a bearer token)."""

    def __init__(self, base_url: str, token: str | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT_S, http: httpx.Client | None = None):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._http = http or httpx.Client(base_url=self.base_url, timeout=timeout,
                                          event_hooks=exchanges.client_hooks())

    # -- plumbing -----------------------------------------------------------------------------
    def with_token(self, token: str | None) -> "CloudFlowClient":
        """Same connection pool, another identity."""
        return CloudFlowClient(self.base_url, token, http=self._http)

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, *, token: str | None | bool = True,
                headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        merged = dict(headers or {})
        bearer = self.token if token is True else (token or None)
        if bearer:
            merged.setdefault("Authorization", f"Bearer {bearer}")
        return self._http.request(method, path, headers=merged, **kwargs)

    # -- health, metrics, discovery -----------------------------------------------------------
    def health(self) -> httpx.Response:
        return self.request("GET", "/health", token=False)

    def metrics(self) -> httpx.Response:
        return self.request("GET", "/metrics", token=False)

    def openapi(self) -> httpx.Response:
        return self.request("GET", "/openapi.json", token=False)

    def latency_report(self, endpoint: str) -> httpx.Response:
        return self.request("GET", "/api/v1/metrics/latency", params={"endpoint": endpoint})

    def config(self) -> httpx.Response:
        return self.request("GET", "/api/v1/config")

    # -- auth ---------------------------------------------------------------------------------
    def login(self, username: str, password: str) -> httpx.Response:
        return self.request("POST", "/auth/login", token=False,
                            json={"username": username, "password": password})

    def refresh(self, refresh_token: str) -> httpx.Response:
        return self.request("POST", "/auth/refresh", token=False,
                            json={"refresh_token": refresh_token})

    def whoami(self) -> httpx.Response:
        return self.request("GET", "/auth/whoami")

    def validate_token(self, token: str) -> httpx.Response:
        return self.request("POST", "/auth/validate", json={"token": token})

    def create_service_account(self, name: str, scopes: list[str]) -> httpx.Response:
        return self.request("POST", "/auth/service-accounts", json={"name": name, "scopes": scopes})

    def request_access(self, resource: str, justification: str | None) -> httpx.Response:
        body = {"resource": resource}
        if justification is not None:
            body["justification"] = justification
        return self.request("POST", "/auth/access-requests", json=body)

    def access_requests(self, status: str = "pending") -> httpx.Response:
        return self.request("GET", "/auth/access-requests", params={"status": status})

    # -- rbac, workspaces, users --------------------------------------------------------------
    def rbac_check(self, user: str, resource: str, action: str) -> httpx.Response:
        return self.request("POST", "/api/v1/rbac/check",
                            json={"user": user, "resource": resource, "action": action})

    def rbac_policies(self, user: str) -> httpx.Response:
        return self.request("GET", "/api/v1/rbac/policies", params={"user": user})

    def create_workspace(self, name: str, tier: str, custom_limits: dict | None = None) -> httpx.Response:
        body: dict[str, Any] = {"name": name, "tier": tier}
        if custom_limits:
            body["custom_limits"] = custom_limits
        return self.request("POST", "/api/v1/workspaces", json=body)

    def workspace(self, workspace_id: str) -> httpx.Response:
        return self.request("GET", f"/api/v1/workspaces/{workspace_id}")

    def create_user(self, workspace_id: str, email: str, password: str, roles: list[str]) -> httpx.Response:
        return self.request("POST", f"/api/v1/workspaces/{workspace_id}/users",
                            json={"email": email, "password": password, "roles": roles})

    def rate_limit_status(self) -> httpx.Response:
        return self.request("GET", "/api/v1/rate-limit")

    # -- workflows and executions -------------------------------------------------------------
    def list_workflows(self) -> httpx.Response:
        return self.request("GET", "/api/v1/workflows")

    def create_workflow(self, definition: dict[str, Any]) -> httpx.Response:
        return self.request("POST", "/api/v1/workflows", json=definition)

    def workflow(self, workflow_id: str) -> httpx.Response:
        return self.request("GET", f"/api/v1/workflows/{workflow_id}")

    def update_workflow(self, workflow_id: str, changes: dict[str, Any]) -> httpx.Response:
        return self.request("PATCH", f"/api/v1/workflows/{workflow_id}", json=changes)

    def delete_workflow(self, workflow_id: str) -> httpx.Response:
        return self.request("DELETE", f"/api/v1/workflows/{workflow_id}")

    def execute(self, workflow_id: str, input: dict | None = None) -> httpx.Response:
        return self.request("POST", f"/api/v1/workflows/{workflow_id}/execute",
                            json={"input": input or {}})

    def execute_batch(self, workflow_ids: list[str], batch_size: int) -> httpx.Response:
        return self.request("POST", "/api/v1/workflows/execute-batch",
                            json={"workflow_ids": workflow_ids, "batch_size": batch_size})

    def execution(self, execution_id: str) -> httpx.Response:
        return self.request("GET", f"/api/v1/executions/{execution_id}")

    def executions(self, workflow_id: str | None = None, status: str | None = None) -> httpx.Response:
        params = {k: v for k, v in {"workflow_id": workflow_id, "status": status}.items() if v}
        return self.request("GET", "/api/v1/executions", params=params)

    def execution_retries(self, execution_id: str) -> httpx.Response:
        return self.request("GET", f"/api/v1/executions/{execution_id}/retries")

    def execution_logs(self, execution_id: str) -> httpx.Response:
        return self.request("GET", f"/api/v1/executions/{execution_id}/logs")

    def circuit_breakers(self, workflow_id: str) -> httpx.Response:
        return self.request("GET", f"/api/v1/workflows/{workflow_id}/circuit-breakers")

    # -- webhooks, events, database -----------------------------------------------------------
    def create_webhook(self, event: str, url: str, secret: str) -> httpx.Response:
        return self.request("POST", "/api/v1/webhooks", json={"event": event, "url": url, "secret": secret})

    def test_webhook(self, webhook_id: str) -> httpx.Response:
        return self.request("POST", f"/api/v1/webhooks/{webhook_id}/test")

    def emit_events(self, count: int) -> httpx.Response:
        return self.request("POST", "/api/v1/events", json={"count": count, "type": "synthetic"})

    def event_buffer(self) -> httpx.Response:
        return self.request("GET", "/api/v1/events/buffer")

    def pool_status(self) -> httpx.Response:
        return self.request("GET", "/api/v1/db/pool")


class TwinControl:
    """The twin's test-mode control API (clock and fault switches). Not part of CloudFlow."""

    def __init__(self, url: str, admin_token: str, *, timeout: float = 10.0):
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout,
                                  headers={"X-Twin-Admin-Token": admin_token})

    def _ok(self, response: httpx.Response) -> Any:
        response.raise_for_status()
        return response.json()

    def now(self) -> float:
        return float(self._ok(self._http.get("/_twin/clock"))["now"])

    def offset(self) -> float:
        return float(self._ok(self._http.get("/_twin/clock"))["offset_s"])

    def set_offset(self, offset_s: float) -> None:
        self._ok(self._http.post("/_twin/clock", json={"offset_s": offset_s}))

    def advance(self, seconds: float) -> None:
        self._ok(self._http.post("/_twin/clock", json={"advance_s": seconds}))

    def faults(self) -> list[dict[str, Any]]:
        return self._ok(self._http.get("/_twin/faults"))

    def set_faults(self, names: list[str]) -> None:
        self._ok(self._http.put("/_twin/faults", json={"enabled": list(names)}))

    def close(self) -> None:
        self._http.close()


class PartnerControl:
    """The partner-API stub's control endpoints (capability partner_control)."""

    def __init__(self, url: str, *, timeout: float = 10.0):
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)

    def set_mode(self, status: int, delay_ms: int = 0) -> None:
        self._http.put("/_partner/mode", json={"status": status, "delay_ms": delay_ms}).raise_for_status()

    def calls(self) -> int:
        response = self._http.get("/_partner/calls")
        response.raise_for_status()
        return int(response.json()["count"])

    def reset_calls(self) -> None:
        self._http.post("/_partner/calls/reset").raise_for_status()

    def close(self) -> None:
        self._http.close()
