"""Per-request records through Locust's `request` event, one JSONL file per Locust process.

Imported by the locustfile (inside Locust). Each line is one request as the generator saw it:
wall start/end, status, the rate-limit headers as sent, and for errors the body's error code and
message. A request that got no answer (connection error) is recorded with status 0: it may or may
not have counted against the limit, and the verdicts treat it as unknown.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

HEADERS = {"lim": "X-RateLimit-Limit", "rem": "X-RateLimit-Remaining", "rst": "X-RateLimit-Reset",
           "ra": "Retry-After", "corr": "X-Correlation-ID"}
FLUSH_EVERY = 500


class Recorder:
    def __init__(self, folder: Path, role: str):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"records-{role}-{socket.gethostname()}-{os.getpid()}.jsonl"
        self._handle = open(self.path, "a", buffering=1 << 16)
        self._pending = 0

    def on_request(self, request_type, name, response_time, response_length, response=None,
                   context=None, exception=None, start_time=None, **_kwargs) -> None:
        status = getattr(response, "status_code", 0) or 0
        record = {"s": start_time, "e": start_time + response_time / 1000.0 if start_time else None,
                  "ms": round(response_time, 3), "st": status, "n": name,
                  "u": (context or {}).get("user")}
        headers = getattr(response, "headers", None)
        if headers is not None and status:
            for key, header in HEADERS.items():
                value = headers.get(header)
                if value is not None:
                    record[key] = value
        if status >= 400:
            try:
                body = response.json()
                record["err"], record["msg"], record["bst"] = body.get("error"), body.get("message"), body.get("status")
            except Exception:  # a non-JSON error body is itself a finding for the verdicts
                record["err"] = None
        if exception is not None and not status:
            record["exc"] = f"{type(exception).__name__}: {exception}"[:200]
        self._handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._pending += 1
        if self._pending >= FLUSH_EVERY:
            self._handle.flush()
            self._pending = 0

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            self._handle.close()
