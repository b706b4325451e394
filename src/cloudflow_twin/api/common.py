"""Shared helpers for the API routers: app state access, JSON responses, permission checks, ids."""
from __future__ import annotations

import json
import random
import string
import time
from typing import Any

from fastapi import Request
from starlette.responses import Response

from .. import rbac
from ..auth import forbidden
from . import metrics
from .errors import ApiError

_ALNUM = string.ascii_lowercase + string.digits


def new_id(prefix: str, n: int = 10) -> str:
    return prefix + "".join(random.choices(_ALNUM, k=n))


class TwinJSON(Response):
    """Compact JSON whose rendering time counts as the request's serialization phase."""
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        start = time.perf_counter()
        body = json.dumps(content, separators=(",", ":"), default=str).encode()
        acc = metrics.serialization_time.get()
        if acc is not None:
            acc[0] += (time.perf_counter() - start) * 1000
        return body


def ok(content: Any, status: int = 200, headers: dict | None = None) -> TwinJSON:
    return TwinJSON(content, status_code=status, headers=headers)


def twin(request: Request):
    """The AppState (pool, tokens, limiter, caches, settings) of this app."""
    return request.app.state.twin


def principal(request: Request) -> rbac.Principal:
    return request.scope["state"]["principal"]


def require(request: Request, action: str, workspace_id: str, environment: str | None = None) -> rbac.Principal:
    """The caller if allowed `action` on a resource in workspace_id, else 403 (documented wording)."""
    who = principal(request)
    allowed, reason = rbac.check(who, action, workspace_id, environment)
    if not allowed:
        raise forbidden(f"{who.sub} {action} in {workspace_id}: {reason}")
    return who


def body_dict(payload: Any) -> dict:
    if not isinstance(payload, dict):
        raise ApiError(422, "validation_error", "request body must be a JSON object")
    return payload


async def json_body(request: Request) -> dict:
    """The request's JSON object body (422 when it is not one)."""
    try:
        payload = await request.json()
    except ValueError:
        raise ApiError(422, "validation_error", "request body must be valid JSON") from None
    return body_dict(payload)


def field(payload: dict, name: str, kind: type | tuple = str, required: bool = True, default=None):
    """One validated field of a JSON body (422 with a clear message otherwise)."""
    if name not in payload or payload[name] is None:
        if required:
            raise ApiError(422, "validation_error", f"field '{name}' is required")
        return default
    value = payload[name]
    if not isinstance(value, kind) or (kind is str and not value.strip()) or isinstance(value, bool) and kind is int:
        raise ApiError(422, "validation_error", f"field '{name}' is invalid")
    return value
