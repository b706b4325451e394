"""Control API under /_twin/ (test mode only, X-Twin-Admin-Token, not in the OpenAPI document)."""
from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from .. import control, faults, logs
from .common import ok, twin
from .errors import ApiError

log = logs.get_logger("api")


def admin_token(request: Request) -> None:
    given = request.headers.get("x-twin-admin-token", "")
    if not hmac.compare_digest(given.encode(), (twin(request).settings.admin_token or "").encode()):
        raise ApiError(401, "unauthorized", "X-Twin-Admin-Token missing or wrong")


router = APIRouter(prefix="/_twin", include_in_schema=False, dependencies=[Depends(admin_token)])


class ClockBody(BaseModel):
    advance_s: float | None = None
    offset_s: float | None = None


class FaultsBody(BaseModel):
    enabled: list[str]


def _clock() -> dict:
    return {"now": control.twin_now(), "offset_s": control.offset_s()}


@router.get("/clock")
async def get_clock():
    return ok(_clock())


@router.post("/clock")
async def set_clock(body: ClockBody):
    if (body.advance_s is None) == (body.offset_s is None):
        raise ApiError(422, "validation_error", "give exactly one of advance_s or offset_s")
    offset = body.offset_s if body.offset_s is not None else control.offset_s() + body.advance_s
    control.write(offset_s=offset)
    log.info(f"twin clock offset set to {offset}s")
    return ok(_clock())


def _fault_list() -> list[dict]:
    enabled = control.enabled_faults()
    return [{"name": f.name, "behaviour": f.behaviour, "description": f.description, "enabled": f.name in enabled,
             "restart_required": f.restart_required}
            for f in faults.load_all()]


@router.get("/faults")
async def get_faults():
    return ok(_fault_list())


@router.put("/faults")
async def put_faults(body: FaultsBody, request: Request):
    faults.load_all()
    unknown = [name for name in body.enabled if faults.get(name) is None]
    if unknown:
        raise ApiError(422, "validation_error", f"unknown fault switches: {', '.join(unknown)}")
    control.write(faults=body.enabled)
    await twin(request).apply_faults()
    log.info(f"fault switches now: {', '.join(sorted(body.enabled)) or 'none'}")
    return ok(_fault_list())


@router.post("/reset-limits")
async def reset_limits(request: Request):
    twin(request).limiter.reset()
    return ok({"reset": True})


@router.get("/signing-key")
async def signing_key(request: Request):
    return ok(twin(request).tokens.public_material())
