"""RBAC endpoints (RBAC-06): effective-permission check and the policies that apply to a user."""
from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from .. import faults, rbac
from .common import principal, require, twin
from .common import ok
from .errors import ApiError

router = APIRouter(prefix="/api/v1/rbac", tags=["rbac"])


class CheckBody(BaseModel):
    user: str
    resource: str
    action: str


async def load_subject(state, user: str) -> rbac.Principal:
    """A user (email) or service account (sa_...) as a Principal, 404 when unknown."""
    if user.startswith("sa_"):
        row = await state.pool.fetch_one("SELECT id, workspace_id, scopes FROM service_accounts WHERE id = %s", (user,))
        if row:
            return rbac.Principal(row["id"], row["workspace_id"], [], list(row["scopes"]))
    else:
        row = await state.pool.fetch_one("SELECT email, workspace_id, roles FROM users WHERE email = %s", (user,))
        if row:
            return rbac.Principal(row["email"], row["workspace_id"], list(row["roles"]), rbac.scopes_for(row["roles"]))
    raise ApiError(404, "not_found", f"user {user} not found")


async def resolve_resource(state, resource: str, default_ws: str) -> tuple[str, str | None]:
    """(workspace_id, environment) of `workflow:<id or name>` or `workspace:<id>`; 404 when unknown."""
    kind, _, ident = resource.partition(":")
    if kind == "workspace" and ident:
        row = await state.pool.fetch_one("SELECT id FROM workspaces WHERE id = %s", (ident,))
        if row:
            return row["id"], None
    elif kind == "workflow" and ident:
        row = await state.pool.fetch_one(
            "SELECT workspace_id, environment FROM workflows WHERE id = %s OR (name = %s AND workspace_id = %s) "
            "ORDER BY (id = %s) DESC LIMIT 1", (ident, ident, default_ws, ident))
        if row:
            return row["workspace_id"], row["environment"]
    else:
        raise ApiError(422, "validation_error", "resource must be workflow:<id> or workspace:<id>")
    raise ApiError(404, "not_found", f"resource {resource} not found")


@router.post("/check")
async def check(body: CheckBody, request: Request):
    state = twin(request)
    if body.action not in rbac.ACTIONS:
        raise ApiError(422, "validation_error", f"action must be one of {', '.join(rbac.ACTIONS)}")
    subject = await load_subject(state, body.user)
    res_ws, env = await resolve_resource(state, body.resource, subject.workspace_id)
    # the caller administers the resource's workspace or the user's (platform-admin: any)
    if not rbac.check(principal(request), "manage", res_ws)[0]:
        require(request, "manage", subject.workspace_id)
    allowed, reason = rbac.check(subject, body.action, res_ws, env)
    if faults.is_on("rbac_check_lies"):
        allowed = not allowed
    return ok({"allowed": allowed, "user": body.user, "resource": body.resource, "action": body.action,
               "roles": subject.roles, "reason": reason})


@router.get("/policies")
async def policies(request: Request, user: str | None = None):
    state, who = twin(request), principal(request)
    subject = await load_subject(state, user or who.sub)
    if subject.sub != who.sub:
        require(request, "manage", subject.workspace_id)
    return ok({"user": subject.sub, "workspace_id": subject.workspace_id, "roles": subject.roles,
               "scopes": subject.scopes, "policies": rbac.policies(subject.roles)})
