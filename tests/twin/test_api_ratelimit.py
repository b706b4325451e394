"""RATE-01..05 (limits, headers, 429 body, batch, concurrency cap, webhook test signature)."""
from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading

from test_api_harness import _clean_twin, api, free_port, pg_server  # noqa: F401 (fixtures)


def _align_to_minute_start(api):
    """Move the twin clock to 1 s after a minute boundary so a test's requests share one window."""
    now = api.control("GET", "/clock").json()["now"]
    api.advance(60 - (now % 60) + 1)
    api.control("POST", "/reset-limits")


def test_free_tier_minute_limit_headers_and_429_body(api):
    headers = api.token("viewer@free.local")
    _align_to_minute_start(api)
    remaining = []
    for _ in range(60):
        r = api.http.get("/api/v1/rate-limit", headers=headers)
        assert r.status_code == 200
        assert r.headers["X-RateLimit-Limit"] == "60"
        remaining.append(int(r.headers["X-RateLimit-Remaining"]))
    assert remaining == list(range(59, -1, -1))
    r = api.http.get("/api/v1/rate-limit", headers=headers)
    assert r.status_code == 429
    body, h = r.json(), r.headers
    retry = int(h["Retry-After"])
    assert 1 <= retry <= 60 and h["X-RateLimit-Remaining"] == "0"
    assert body == {"error": "rate_limit_exceeded", "message": f"API rate limit exceeded. Retry after {retry} seconds.",
                    "status": 429, "correlation_id": h["X-Correlation-ID"]}
    now = api.control("GET", "/clock").json()["now"]
    assert abs(int(h["X-RateLimit-Reset"]) - (now + retry)) <= 2
    line = json.loads(api.wait_log("rate_limit_exceeded workspace=ws_free tier=free"))
    assert line["level"] == "WARN" and line["correlation_id"] == h["X-Correlation-ID"]
    api.advance(retry)  # next window
    assert api.http.get("/api/v1/rate-limit", headers=headers).status_code == 200


def test_rejected_requests_do_not_count_and_errors_carry_headers(api):
    headers = api.token("viewer@free.local")
    _align_to_minute_start(api)
    r = api.http.get("/api/v1/workflows/wf_doesnotexist", headers=headers)
    assert r.status_code == 404 and r.headers["X-RateLimit-Remaining"] == "59"
    used = api.http.get("/api/v1/rate-limit", headers=headers).json()
    assert used["used_minute"] == 2 and used["per_hour"] == 1000 and used["concurrent_workflows"] == 5


def test_hourly_limit_applies_across_minutes(api):
    _align_to_minute_start(api)
    now = api.control("GET", "/clock").json()["now"]
    api.advance(3600 - (now % 3600) + 1)   # start of an hour
    api.control("POST", "/reset-limits")
    # logged in after the jump: a token from before it may be up to an hour old (it expires)
    headers = api.token("viewer@free.local")
    api.control("POST", "/reset-limits")
    sent = 0
    for _ in range(17):                     # 17 minutes x 60 = 1020 > 1000
        for _ in range(60):
            status = api.http.get("/api/v1/events/buffer", headers=headers).status_code
            if status == 429:
                break
            assert status == 200, f"request {sent + 1} answered {status}"
            sent += 1
        else:
            api.advance(60)
            continue
        break
    assert sent == 1000


def test_batch_counts_once_and_concurrency_cap(api):
    admin = api.token("admin@free.local")
    _align_to_minute_start(api)
    wf = api.http.post("/api/v1/workflows", headers=admin, json={"name": "b", "steps": [{"type": "noop"}]}).json()["id"]
    before = int(api.http.get("/api/v1/rate-limit", headers=admin).headers["X-RateLimit-Remaining"])
    r = api.http.post("/api/v1/workflows/execute-batch", headers=admin, json={"workflow_ids": [wf] * 5, "batch_size": 5})
    assert r.status_code == 202 and len(r.json()["executions"]) == 5
    assert int(r.headers["X-RateLimit-Remaining"]) == before - 1
    # 5 PENDING executions (no engine here) = the free tier's cap
    r = api.http.post(f"/api/v1/workflows/{wf}/execute", headers=admin, json={})
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert r.json()["error"] == "concurrent_workflow_limit_exceeded"
    assert r.json()["message"] == "Concurrent workflow limit of 5 reached."


def test_faults_break_the_429_contract(api):
    headers = api.token("viewer@free.local")
    api.set_faults("retry_after_missing", "rate_limit_wording")
    _align_to_minute_start(api)
    for _ in range(60):
        api.http.get("/api/v1/events/buffer", headers=headers)
    r = api.http.get("/api/v1/events/buffer", headers=headers)
    assert r.status_code == 429 and "Retry-After" not in r.headers
    assert not r.json()["message"].startswith("API rate limit exceeded")
    api.set_faults("limit_off_by_one")
    assert api.http.get("/api/v1/events/buffer", headers=headers).status_code == 200


def test_webhook_test_delivery_is_signed(api):
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        admin = api.token("admin@free.local")
        r = api.http.post("/api/v1/webhooks", headers=admin, json={
            "event": "workflow.completed", "url": f"http://127.0.0.1:{server.server_port}/hook", "secret": "s3cret"})
        assert r.status_code == 201 and "s3cret" not in r.text
        r = api.http.post(f"/api/v1/webhooks/{r.json()['id']}/test", headers=admin)
        assert r.json()["delivered"] is True and r.json()["status_code"] == 204
        headers, body = received[0]
        assert json.loads(body)["event"] == "webhook.test"
        expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert headers["X-CloudFlow-Signature"] == expected
    finally:
        server.shutdown()
        server.server_close()
