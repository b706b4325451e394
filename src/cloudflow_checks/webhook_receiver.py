"""A webhook receiver on loopback for the RATE-05 checks: records each delivery's headers and raw
body, and verifies signatures the way a careful consumer would (HMAC-SHA256, constant time)."""
from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_DELIVERIES = 1000
MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float


def signature_valid(secret: str, body: bytes, header: str | None, prefix: str = "sha256=") -> bool:
    if not header or not header.startswith(prefix):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len(prefix):])


class WebhookReceiver:
    def __init__(self, host: str = "127.0.0.1"):
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
                body = self.rfile.read(length)
                with receiver._lock:
                    if len(receiver.deliveries) < MAX_DELIVERIES:
                        receiver.deliveries.append(Delivery(self.path, dict(self.headers.items()), body, time.time()))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):  # keep pytest output clean
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/webhooks/cloudflow"

    def __enter__(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, predicate, timeout_s: float) -> Delivery:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                for delivery in self.deliveries:
                    if predicate(delivery):
                        return delivery
            time.sleep(0.05)
        raise AssertionError(f"no matching webhook delivery within {timeout_s} s "
                             f"({len(self.deliveries)} deliveries received)")
