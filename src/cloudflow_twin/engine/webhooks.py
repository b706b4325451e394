"""workflow.completed webhooks (RATE-05): signed POSTs from a bounded queue, never inline.

The execution only enqueues; a few worker tasks deliver, with bounded retries, and record one
`webhook_deliveries` row per delivery (its final outcome).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
from datetime import datetime, timezone
from urllib.parse import urlsplit

import httpx

from . import store

QUEUE_MAX = 1000
WORKERS = 4
ATTEMPTS = 3                     # bounded: first try + 2 retries
BACKOFF_S = (0.5, 1.0)           # real seconds between tries
TIMEOUT_S = 5.0
RECORD_GIVE_UP_S = 60.0          # a DB outage must not park a delivery worker for long


def sign(secret: str, body: bytes) -> str:
    """X-CloudFlow-Signature value: sha256=<hex HMAC-SHA256(secret, raw body)>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def is_loopback(url: str) -> bool:
    """The twin only talks to this machine (house rule: loopback traffic only)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def enqueue(rt, hook: dict, state) -> None:
    payload = {"event": "workflow.completed", "webhook_id": hook["id"],
               "workflow_id": state.workflow_id, "execution_id": state.id,
               "status": state.status, "timestamp": rfc3339(rt.now())}
    item = {"hook": hook, "payload": payload, "ids": state.ids}
    try:
        rt.webhook_queue.put_nowait(item)
    except asyncio.QueueFull:
        rt.webhook_log.error(f"webhook queue full, delivery to {hook['id']} dropped",
                             error_type="WebhookQueueFull", webhook_id=hook["id"], **state.ids)


async def _record(rt, item: dict, status_code: int | None, error: str | None) -> None:
    async def write():
        async with rt.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO webhook_deliveries (webhook_id, execution_id, event, status_code, "
                "error, delivered_at) VALUES (%s, %s, %s, %s, %s, %s)",
                (item["hook"]["id"], item["payload"]["execution_id"], item["payload"]["event"],
                 status_code, error, rt.now()))
    try:
        await store.persist(rt, write, ids=item["ids"], give_up_s=RECORD_GIVE_UP_S)
    except store.DB_DOWN:
        pass  # logged by persist; the delivery itself happened (or not) regardless
    except Exception as exc:  # e.g. the webhook was deleted meanwhile (FK)
        rt.webhook_log.warn(f"webhook delivery not recorded: {exc}", **item["ids"])


async def deliver(rt, client: httpx.AsyncClient, item: dict) -> None:
    hook, ids = item["hook"], item["ids"]
    if not is_loopback(hook["url"]):
        error = f"refused: {hook['url']} is not a loopback address"
        rt.webhook_log.error(error, error_type="WebhookRefused", webhook_id=hook["id"], **ids)
        return await _record(rt, item, None, error)
    body = json.dumps(item["payload"], separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "X-CloudFlow-Event": item["payload"]["event"]}
    if not rt.fault("webhook_unsigned"):
        headers["X-CloudFlow-Signature"] = sign(hook["secret"], body)
    status, error = None, None
    for attempt in range(1, ATTEMPTS + 1):
        try:
            resp = await client.post(hook["url"], content=body, headers=headers)
            status, error = resp.status_code, None
            if 200 <= resp.status_code < 300:
                break
            error = f"status {resp.status_code}"
        except httpx.HTTPError as exc:
            status, error = None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if attempt < ATTEMPTS:
            await asyncio.sleep(BACKOFF_S[attempt - 1])
    if error is None:
        rt.webhook_log.info(f"webhook {hook['id']} delivered", webhook_id=hook["id"],
                            status_code=status, attempts=attempt, **ids)
    else:
        rt.webhook_log.error(f"webhook {hook['id']} delivery failed after {attempt} attempts: {error}",
                             error_type="WebhookDeliveryError", webhook_id=hook["id"], **ids)
    await _record(rt, item, status, error)


async def worker(rt) -> None:
    async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
        while True:
            item = await rt.webhook_queue.get()
            try:
                await deliver(rt, client, item)
            except Exception as exc:  # a bad item must not kill the worker
                rt.webhook_log.error(f"webhook delivery crashed: {exc}", error_type=type(exc).__name__)
            finally:
                rt.webhook_queue.task_done()
