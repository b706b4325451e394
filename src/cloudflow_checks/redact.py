"""Secrets never reach a report (DESIGN.md house rule 8).

Three nets, applied together by `text()` and `data()`:
1. known secret values (passwords, tokens, webhook secrets, keys), registered as the run creates or
   reads them, are masked wherever they appear;
2. anything shaped like a JWT, a bearer or basic Authorization value, or a PEM private key;
3. the value next to a secret-sounding key (`"password": "..."`, `secret=...`, `X-Webhook-Secret: ...`),
   in JSON, Python reprs, query strings and headers; `data()` also masks such keys' values outright.
`sweep()` rewrites every text file of a folder through `text()`: the last step of a run, so that
files written by other plugins (junit.xml, allure-results) are covered too.
"""
from __future__ import annotations

import html
import json
import re
import threading
from pathlib import Path

MASK = "***REDACTED***"
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_AUTH = re.compile(r"(?i)\b(bearer|basic)(\s+)(?!\*\*\*REDACTED)[^\s\"'<>&,;]+")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)
SECRET_KEYS = ("password", "passwd", "secret", "webhook_secret", "client_secret", "api_key", "apikey",
               "access_token", "refresh_token", "token", "signing_key", "private_key", "admin_token",
               "authorization", "x-webhook-secret", "x-cloudflow-admin-token", "x-admin-token")
_KEY = "|".join(re.escape(k) for k in sorted(SECRET_KEYS, key=len, reverse=True))
# key (with any prefix: X-Twin-Admin-Token, TWIN_ADMIN_TOKEN), optional closing quote, separator,
# optional opening quote(s); value up to a delimiter.
# Also matches JSON escaped inside a string (\"password\": \"x\") as in junit.xml failure text.
_KV = re.compile(
    r"(?i)(?<![A-Za-z0-9_-])((?:[A-Za-z0-9]+[_-])*(?:" + _KEY + r"))((?:\\?[\"']|&quot;|&#39;|&apos;)?\s*(?:=|:|=>)\s*)"
    r"(?!(?:\\?[\"']|&quot;|&#39;|&apos;)?\*\*\*REDACTED|(?:bearer|basic)\s"
    r"|(?:GET|POST|PUT|PATCH|DELETE)\s+/)"   # prose such as "refresh the token: POST /auth/refresh"
    r"(&quot;.*?&quot;|&#39;.*?&#39;|&apos;.*?&apos;|\\\"[^\"\\]*\\\"|\"[^\"\n]*\"|'[^'\n]*'|[^\s\"'\\,&;}<>)\]]+)")
_SECRET_KEY_NAME = re.compile(r"(?i)^(?:.*[_-])?(?:" + _KEY + r")$")
_MIN_SECRET_LEN = 6  # shorter registered values would mask ordinary words

_lock = threading.Lock()
_secrets: set[str] = set()


def register(*values: str | None) -> None:
    """Known secrets, also as they appear escaped in XML/HTML (junit.xml) and inside JSON strings."""
    with _lock:
        for v in values:
            if isinstance(v, str) and len(v) >= _MIN_SECRET_LEN:
                _secrets.update({v, html.escape(v, quote=True), html.escape(v, quote=False), json.dumps(v)[1:-1]})


def registered() -> list[str]:
    """The known secrets (to hand them from an xdist worker to the controller, never to a file)."""
    with _lock:
        return sorted(_secrets)


def text(value: str) -> str:
    if not value or not isinstance(value, str):
        return value
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in value:
            value = value.replace(secret, MASK)
    value = _PEM.sub(MASK, value)
    value = _JWT.sub(MASK, value)
    value = _AUTH.sub(lambda m: m.group(1) + m.group(2) + MASK, value)
    return _KV.sub(_mask_value, value)


def _mask_value(m: re.Match) -> str:
    raw = m.group(3)
    for quote in ("&quot;", "&#39;", "&apos;", '\\"', '"', "'"):
        if len(raw) >= 2 * len(quote) and raw.startswith(quote) and raw.endswith(quote):
            return m.group(1) + m.group(2) + (quote + MASK + quote if len(raw) > 2 * len(quote) else raw)
    return m.group(1) + m.group(2) + MASK


def is_secret_key(key) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY_NAME.match(key))


def data(value):
    """Redact every string inside a JSON-like structure; values of secret-named keys are masked."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {k: (MASK if is_secret_key(k) and isinstance(v, str) and v else data(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [data(v) for v in value]
    return value


TEXT_SUFFIXES = {".json", ".jsonl", ".md", ".xml", ".txt", ".log", ".html", ".csv", ".yaml", ".yml", ".properties", ""}


def sweep(folder: Path, max_bytes: int = 64 * 1024 * 1024) -> list[Path]:
    """Redact every text file under `folder` in place; returns the files that changed.

    Binary files (PNG pictures) are left alone; a file that does not decode as UTF-8 is skipped.
    """
    changed = []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file() or path.is_symlink() or path.suffix.lower() not in TEXT_SUFFIXES:
            continue
        if path.stat().st_size > max_bytes:
            continue
        try:
            original = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        cleaned = text(original)
        if cleaned != original:
            tmp = path.with_name(path.name + ".redact.tmp")
            tmp.write_text(cleaned, encoding="utf-8")
            tmp.replace(path)
            changed.append(path)
    return changed
