"""Secrets never reach a report (DESIGN.md house rule 8).

Known secret values (passwords, tokens, webhook secrets, keys) are registered as the run creates or
reads them; anything shaped like a JWT or a bearer header is masked even when unregistered.
"""
from __future__ import annotations

import re
import threading

MASK = "***REDACTED***"
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"']+")
_MIN_SECRET_LEN = 6  # shorter values would mask ordinary words

_lock = threading.Lock()
_secrets: set[str] = set()


def register(*values: str | None) -> None:
    with _lock:
        _secrets.update(v for v in values if v and len(v) >= _MIN_SECRET_LEN)


def text(value: str) -> str:
    if not value:
        return value
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        value = value.replace(secret, MASK)
    value = _JWT.sub(MASK, value)
    return _BEARER.sub(lambda m: m.group(1) + MASK, value)


def data(value):
    """Redact every string inside a JSON-like structure."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {k: data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [data(v) for v in value]
    return value
