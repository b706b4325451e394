"""Workspaces and users provisioning; workspace metadata served from the cache (PERF-04)."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from .. import auth, rbac
from ..ratelimit import limits_from
from .common import new_id, ok, principal, require, twin
from .errors import ApiError
from .seed import upsert_user, upsert_workspace

router = APIRouter(prefix="/api/v1/workspaces", tags=["workspaces"])


class CustomLimits(BaseModel):
    per_minute: int | None = Field(default=None, gt=0)
    per_hour: int | None = Field(default=None, gt=0)
    concurrent_workflows: int | None = Field(default=None, gt=0)


class WorkspaceBody(BaseModel):
    name: str = Field(min_length=1)
    tier: Literal["free", "standard", "premium", "enterprise"] = "free"
    custom_limits: CustomLimits | None = None
    id: str | None = Field(default=None, pattern=r"^ws_[a-z0-9_]{1,40}$")


class UserBody(BaseModel):
    email: str = Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=1)
    roles: list[Literal["viewer", "developer", "operator", "admin", "platform-admin"]]


def _metadata(row: dict, settings) -> dict:
    limits = limits_from(row["tier"], row["custom_limits"], settings.tiers)
    return {"id": row["id"], "name": row["name"], "tier": row["tier"],
            "limits": {"per_minute": limits.per_minute, "per_hour": limits.per_hour,
                       "concurrent_workflows": limits.concurrent_workflows},
            "custom_limits": row["custom_limits"] or {}, "created_at": row["created_at"]}


@router.post("", status_code=201)
async def create_workspace(body: WorkspaceBody, request: Request):
    state, who = twin(request), principal(request)
    if "platform-admin" not in who.roles:
        raise auth.forbidden(f"{who.sub} create workspace: platform-admin only")
    ws_id = body.id or new_id("ws_")
    custom = body.custom_limits.model_dump(exclude_none=True) if body.custom_limits else {}
    if await state.pool.fetch_one("SELECT 1 AS x FROM workspaces WHERE id = %s", (ws_id,)):
        raise ApiError(409, "conflict", f"workspace {ws_id} exists")
    await upsert_workspace(state, ws_id, body.name, body.tier, custom)
    row = await state.pool.fetch_one("SELECT * FROM workspaces WHERE id = %s", (ws_id,))
    return ok(_metadata(row, state.settings), 201)


@router.get("/{ws_id}")
async def get_workspace(ws_id: str, request: Request):
    state = twin(request)
    cached, hit = state.ws_cache.get(ws_id)
    if not hit:
        row = await state.pool.fetch_one("SELECT * FROM workspaces WHERE id = %s", (ws_id,))
        if row is None:
            raise ApiError(404, "not_found", f"workspace {ws_id} not found")
        cached = _metadata(row, state.settings)
        state.ws_cache.put(ws_id, cached)
    require(request, "read", ws_id)
    return ok(cached, headers={"X-Cache": "HIT" if hit else "MISS"})


@router.post("/{ws_id}/users", status_code=201)
async def create_user(ws_id: str, body: UserBody, request: Request):
    state = twin(request)
    if not await state.pool.fetch_one("SELECT 1 AS x FROM workspaces WHERE id = %s", (ws_id,)):
        raise ApiError(404, "not_found", f"workspace {ws_id} not found")
    who = require(request, "manage", ws_id)
    if "platform-admin" in body.roles and "platform-admin" not in who.roles:
        raise auth.forbidden(f"{who.sub} may not grant platform-admin")
    await upsert_user(state, body.email, body.password, ws_id, list(body.roles))
    return ok({"email": body.email, "workspace_id": ws_id, "roles": list(body.roles),
               "scopes": rbac.scopes_for(body.roles)}, 201)
