"""A stand-in CloudFlow for the reporting tests: a real HTTP server on loopback that answers with
correlation ids, writes JSON log lines to a file, and can be told to misbehave (fault names) and to
leak planted secrets in its responses and logs. The reporting code only ever sees it over HTTP and
through its log file, as it would a remote target."""
from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# Planted secrets: what the secret test proves never reaches a run folder.
TOKEN = "cfat_" + "Pl4ntedAccessT0ken" + "9f3b2c"        # opaque (not JWT-shaped): only registration catches it
PASSWORD = "Plant3d-" + "Passw0rd-7d1e"                   # the account's password, from the environment
WEBHOOK_SECRET = "whsec_" + "Plant3dWebhookSecret4a8c"     # never registered: caught by its key only
ALL = (TOKEN, PASSWORD, WEBHOOK_SECRET)

FAULTS = {
    "forbidden_500": "AUTH-06: a missing permission answers 500 (with a leaky body) instead of 403",
    "whoami_no_scopes": "AUTH-07: whoami leaves out scopes",
}


class FakeCloudFlow:
    def __init__(self, folder: Path):
        self.log_file = Path(folder) / "api.log"
        self.faults: set[str] = set()
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"app": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def log(self, **fields) -> None:
        with self._lock, self.log_file.open("a") as out:
            out.write(json.dumps({"timestamp": "2026-01-24T10:30:00.000Z", "component": "api", **fields}) + "\n")


class _Handler(BaseHTTPRequestHandler):
    app: FakeCloudFlow

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        corr = "corr_" + secrets.token_hex(5)
        faults = self.app.faults
        if self.path == "/health":
            return self._send(200, {"status": "healthy"}, corr)
        if self.path == "/api/v1/auth/whoami":
            body = {"user": "ops@example.com", "roles": ["viewer"], "scopes": ["workflow:read"]}
            if "whoami_no_scopes" in faults:
                del body["scopes"]
            self.app.log(level="INFO", message="whoami", correlation_id=corr)
            return self._send(200, body, corr)
        if self.path.startswith("/api/v1/workflows/"):
            if "forbidden_500" in faults:
                self.app.log(level="ERROR", message="unhandled error in rbac", correlation_id=corr,
                             error_type="InternalError", password=PASSWORD, access_token=TOKEN,
                             webhook_secret=WEBHOOK_SECRET)
                return self._send(500, {"error": "internal", "debug": {
                    "access_token": TOKEN, "password": PASSWORD, "webhook": {"secret": WEBHOOK_SECRET}}}, corr)
            self.app.log(level="WARN", message="permission denied", correlation_id=corr)
            return self._send(403, {"error": "forbidden",
                                    "message": "User does not have required permissions for this operation"}, corr)
        return self._send(404, {"error": "not_found"}, corr)

    def _send(self, status: int, body: dict, corr: str):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Correlation-ID", corr)
        self.end_headers()
        self.wfile.write(data)


CHECKS = r'''
"""Synthetic checks run against the fake target by the reporting tests."""
import logging
import os

import pytest
from cloudflow_checks import redact

log = logging.getLogger("synthetic")


@pytest.mark.behaviour("AUTH-06")
def test_missing_permission_answers_403(api, spec):
    b = spec["AUTH-06"]
    r = api.request("GET", "/api/v1/workflows/wf_12345678")
    print("response body:", r.text)                      # captured stdout reaches junit and allure
    log.warning("response %s: %s", r.status_code, r.text)  # captured log too
    assert r.status_code == b["status"], f"expected {b['status']}, got {r.status_code}: {r.text}"
    assert r.json()["message"] == b["message"]


@pytest.mark.behaviour("AUTH-07")
def test_whoami_lists_user_roles_scopes(api, spec):
    r = api.request("GET", "/api/v1/auth/whoami")
    missing = [f for f in spec["AUTH-07"]["fields"] if f not in r.json()]
    assert not missing, f"whoami lacks {missing}: {r.text}"


@pytest.mark.behaviour("AUTH-03")
def test_a_secret_registered_in_a_worker(api):
    # a secret that only this worker knows (like a provisioned user's password) ends up in output
    worker_secret = "wrk-" + os.environ["FAKE_WORKER_SECRET"]
    redact.register(worker_secret)
    print("provisioned user with", worker_secret)
    assert api.request("GET", "/health").status_code == 200


@pytest.mark.behaviour("AUTH-01")
def test_draws_a_timeline(api, report_pictures):
    """Like a chaos or load check: saves a PNG, which the reporting plugin attaches to Allure."""
    import struct, zlib
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 8 for _ in range(8))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    (report_pictures / "timeline-fake.png").write_bytes(png)
    assert api.request("GET", "/health").status_code == 200


@pytest.mark.behaviour("AUTH-09")
def test_skipped_for_a_reason():
    pytest.skip("target fake lacks capability provisioning")
'''

TARGETS = """
targets:
  fake:
    kind: remote
    base_url: {base_url}
    tokens: {{access_env: FAKE_CF_ACCESS_TOKEN, refresh_env: FAKE_CF_REFRESH_TOKEN}}
    accounts:
      viewer: {{username: ops@example.com, password_env: FAKE_VIEWER_PASSWORD}}
    logs: {{source: files, files: ["{log_file}"]}}
    capabilities: [logs]
"""


def make_project(folder: Path, app: FakeCloudFlow) -> Path:
    """A project folder with checks/ and targets.yaml naming the fake target."""
    (folder / "checks").mkdir(parents=True)
    (folder / "checks" / "test_synthetic.py").write_text(CHECKS)
    (folder / "targets.yaml").write_text(TARGETS.format(base_url=app.base_url, log_file=app.log_file))
    return folder


def env(worker_secret: str) -> dict:
    return {"FAKE_CF_ACCESS_TOKEN": TOKEN, "FAKE_VIEWER_PASSWORD": PASSWORD,
            "FAKE_WORKER_SECRET": worker_secret}
