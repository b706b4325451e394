"""Webhooks (RATE-05): create (secret never echoed) and a signed synchronous test delivery."""
from __future__ import annotations

import hashlib
import hmac
import json

import httpx
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from .. import control, faults, logs
from .common import new_id, ok, principal, require, twin
from .errors import ApiError

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
log = logs.get_logger("webhooks")


class WebhookBody(BaseModel):
    event: str = Field(default="workflow.completed", pattern=r"^workflow\.completed$")
    url: str = Field(pattern=r"^https?://")
    secret: str = Field(min_length=1)


def sign(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256(secret, raw body)>` as sent in X-CloudFlow-Signature."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@router.post("", status_code=201)
async def create_webhook(body: WebhookBody, request: Request):
    state = twin(request)
    who = require(request, "manage", principal(request).workspace_id)
    wh_id = new_id("wh_")
    await state.pool.execute("INSERT INTO webhooks (id, workspace_id, event, url, secret, created_at) "
                             "VALUES (%s, %s, %s, %s, %s, %s)",
                             (wh_id, who.workspace_id, body.event, body.url, body.secret, control.twin_now()))
    log.info(f"webhook {wh_id} created for {body.event}")
    return ok({"id": wh_id, "event": body.event, "url": body.url}, 201)


@router.post("/{wh_id}/test")
async def test_webhook(wh_id: str, request: Request):
    state = twin(request)
    row = await state.pool.fetch_one("SELECT id, workspace_id, event, url, secret FROM webhooks WHERE id = %s", (wh_id,))
    if row is None:
        raise ApiError(404, "not_found", f"webhook {wh_id} not found")
    require(request, "manage", row["workspace_id"])
    payload = json.dumps({"event": "webhook.test", "webhook_id": wh_id, "workspace_id": row["workspace_id"],
                          "timestamp": control.twin_now()}, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "X-CloudFlow-Event": "webhook.test"}
    if not faults.is_on("webhook_test_unsigned"):
        headers["X-CloudFlow-Signature"] = sign(row["secret"], payload)
    status_code, error = None, None
    try:
        resp = await state.http.post(row["url"], content=payload, headers=headers, timeout=10.0)
        status_code = resp.status_code
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.warn(f"webhook {wh_id} test delivery failed: {error}", error_type="webhook_delivery_failed")
    delivered = status_code is not None and 200 <= status_code < 300
    await state.pool.execute("INSERT INTO webhook_deliveries (webhook_id, event, status_code, error, delivered_at) "
                             "VALUES (%s, 'webhook.test', %s, %s, %s)", (wh_id, status_code, error, control.twin_now()))
    return ok({"delivered": delivered, "status_code": status_code, "error": error})
