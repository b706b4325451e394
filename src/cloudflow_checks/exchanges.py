"""A record of the HTTP exchanges the running check made, so a failure can name the endpoints it
hit and the correlation ids the target gave (incident reports, LOG-02)."""
from __future__ import annotations

import threading
from dataclasses import dataclass

import httpx

_MAX = 200
_MAX_BODY = 4096  # enough to read an error answer; large bodies are cut


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    status: int
    correlation_id: str | None
    request_headers: dict | None = None   # raw: redacted where they are written (attachments)
    request_body: str | None = None
    response_headers: dict | None = None
    response_body: str | None = None


_lock = threading.Lock()
_current: list[Exchange] = []


def reset() -> None:
    with _lock:
        _current.clear()


def snapshot() -> list[Exchange]:
    with _lock:
        return list(_current)


def _text(content: bytes) -> str:
    return content[:_MAX_BODY].decode("utf-8", "replace")


def record(response: httpx.Response) -> None:
    response.read()  # an event hook sees the response before its body is read
    request = response.request
    exchange = Exchange(request.method, request.url.path, response.status_code,
                        response.headers.get("X-Correlation-ID"),
                        dict(request.headers), _text(request.content), dict(response.headers),
                        _text(response.content))
    with _lock:
        if len(_current) < _MAX:
            _current.append(exchange)


def failing(exchanges: list[Exchange]) -> list[Exchange]:
    """Exchanges worth naming: the unexpected-looking ones, else the last few."""
    bad = [e for e in exchanges if e.status >= 400]
    return bad[-20:] if bad else exchanges[-5:]


def client_hooks() -> dict:
    return {"response": [record]}
