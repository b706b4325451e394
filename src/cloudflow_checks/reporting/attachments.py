"""What a failing check leaves in the Allure report: its HTTP exchanges (redacted request and
response transcripts) and the pictures chaos and load experiments draw (timelines, load curves)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from .. import redact

MAX_BODY_CHARS = 4000
MAX_TRANSCRIPTS = 10
_SECRET_HEADERS = {"authorization", "cookie", "set-cookie", "x-admin-token", "x-cloudflow-admin-token",
                   "x-twin-admin-token", "x-webhook-secret", "proxy-authorization"}


def exchange_rows(exchanges) -> list[dict]:
    """Exchange records (exchanges.Exchange or dicts) as plain dicts for exchanges.jsonl."""
    rows = []
    for e in exchanges:
        get = e.get if isinstance(e, dict) else (lambda k, d=None, e=e: getattr(e, k, d))
        rows.append({"method": get("method"), "path": get("path"), "status": get("status"),
                     "correlation_id": get("correlation_id")})
    return rows


def _headers(headers) -> list[str]:
    out = []
    for name, value in (dict(headers or {})).items():
        shown = redact.MASK if name.lower() in _SECRET_HEADERS else value
        out.append(f"{name}: {shown}")
    return out


def _body(body) -> str:
    if body is None or body == "" or body == b"":
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str):
        body = json.dumps(body)
    try:  # pretty JSON, with secret-named fields masked structurally
        body = json.dumps(redact.data(json.loads(body)), indent=2)
    except ValueError:
        pass
    return body[:MAX_BODY_CHARS] + (" ...[truncated]" if len(body) > MAX_BODY_CHARS else "")


def transcript(exchange) -> str:
    """One request and its response as text, redacted. Bodies and headers appear when the exchange
    record carries them (request_headers, request_body, response_headers, response_body)."""
    get = exchange.get if isinstance(exchange, dict) else (lambda k, d=None: getattr(exchange, k, d))
    lines = [f"{get('method')} {get('path')}"]
    lines += _headers(get("request_headers"))
    body = _body(get("request_body"))
    if body:
        lines += ["", body]
    lines += ["", f"HTTP {get('status')}  (X-Correlation-ID: {get('correlation_id') or '-'})"]
    lines += _headers(get("response_headers"))
    body = _body(get("response_body"))
    if body:
        lines += ["", body]
    return redact.text("\n".join(lines))


def attach_exchanges(exchanges, failing) -> None:
    """Allure attachments for a failing check: the failing exchanges in full, then the whole list."""
    import allure
    for i, e in enumerate(failing[-MAX_TRANSCRIPTS:], 1):
        allure.attach(transcript(e), name=f"HTTP {i}: {getattr(e, 'method', '')} {getattr(e, 'path', '')} "
                                         f"-> {getattr(e, 'status', '')}",
                      attachment_type=allure.attachment_type.TEXT)
    if exchanges:
        allure.attach(redact.text(json.dumps(exchange_rows(exchanges), indent=2)), name="all HTTP exchanges",
                      attachment_type=allure.attachment_type.JSON)


def attach_picture(path: Path, name: str | None = None, run_dir: Path | None = None) -> Path | None:
    """Attach a PNG (a chaos timeline, a load curve) to the running check's Allure entry, and keep a
    copy in run_dir/pictures/ when a run folder is given. Returns the copy's path."""
    import allure
    path = Path(path)
    if not path.is_file():
        return None
    allure.attach.file(str(path), name=name or path.stem, attachment_type=allure.attachment_type.PNG)
    if run_dir is None:
        return None
    folder = Path(run_dir) / "pictures"
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / path.name
    if copy.resolve() != path.resolve():
        shutil.copyfile(path, copy)
    return copy
