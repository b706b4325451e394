"""A record of the HTTP exchanges the running check made, so a failure can name the endpoints it
hit and the correlation ids the target gave (incident reports, LOG-02)."""
from __future__ import annotations

import threading
from dataclasses import dataclass

import httpx

_MAX = 200


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    status: int
    correlation_id: str | None


_lock = threading.Lock()
_current: list[Exchange] = []


def reset() -> None:
    with _lock:
        _current.clear()


def snapshot() -> list[Exchange]:
    with _lock:
        return list(_current)


def record(response: httpx.Response) -> None:
    exchange = Exchange(response.request.method, response.request.url.path, response.status_code,
                        response.headers.get("X-Correlation-ID"))
    with _lock:
        if len(_current) < _MAX:
            _current.append(exchange)


def failing(exchanges: list[Exchange]) -> list[Exchange]:
    """Exchanges worth naming: the unexpected-looking ones, else the last few."""
    bad = [e for e in exchanges if e.status >= 400]
    return bad[-20:] if bad else exchanges[-5:]


def client_hooks() -> dict:
    return {"response": [record]}
