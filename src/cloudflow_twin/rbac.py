"""Roles, scopes and the RBAC table (guide "RBAC Policy Violations"; README "RBAC").

Effective permission = union over the principal's roles, inside its own workspace only (except
platform-admin). Service accounts carry no roles: their scopes decide (AUTH-08).
Fault switches RBAC-01..05 bend exactly one row each.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import faults

ROLES = ("viewer", "developer", "operator", "admin", "platform-admin")
ACTIONS = ("read", "create", "update", "delete", "execute", "view_logs", "manage")
_ADMIN_SCOPES = ["workflow:*", "data:*", "logs:read", "metrics:read", "admin:*"]
ROLE_SCOPES = {
    "viewer": ["workflow:read", "data:read", "metrics:read"],
    "developer": ["workflow:read", "workflow:write", "data:read", "metrics:read"],
    "operator": ["workflow:read", "workflow:execute", "logs:read", "metrics:read"],
    "admin": _ADMIN_SCOPES,
    "platform-admin": _ADMIN_SCOPES,
}
TABLE = {
    "viewer": "read",
    "developer": "read; create, update, delete on non-production workflows",
    "operator": "read, execute, view_logs",
    "admin": "everything, own workspace only",
    "platform-admin": "everything, every workspace",
}
# the scope a service account needs for an action
ACTION_SCOPE = {"read": "workflow:read", "create": "workflow:write", "update": "workflow:write",
                "delete": "workflow:write", "execute": "workflow:execute", "view_logs": "logs:read",
                "manage": "admin:manage"}
_WRITE = ("create", "update", "delete")


@dataclass
class Principal:
    """The authenticated caller: a user (sub = email) or a service account (sub = sa_...)."""
    sub: str
    workspace_id: str
    roles: list = field(default_factory=list)
    scopes: list = field(default_factory=list)
    claims: dict = field(default_factory=dict)

    @property
    def is_service_account(self) -> bool:
        return self.sub.startswith("sa_")


def scopes_for(roles) -> list[str]:
    out: list[str] = []
    for role in roles:
        for scope in ROLE_SCOPES.get(role, []):
            if scope not in out:
                out.append(scope)
    return out


def scope_grants(scopes, needed: str) -> bool:
    """True when a scope list grants `needed` (wildcards like workflow:* and admin:*)."""
    prefix = needed.split(":", 1)[0]
    return needed in scopes or f"{prefix}:*" in scopes


def role_allows(role: str, action: str, own_workspace: bool, environment: str | None) -> tuple[bool, str]:
    """One row of the table; returns (allowed, reason)."""
    if role == "platform-admin":
        if not own_workspace and faults.is_on("platform_admin_single_workspace"):
            return False, "platform-admin limited to its own workspace"
        return True, "platform-admin: everything, every workspace"
    if not own_workspace:
        if role == "admin" and faults.is_on("admin_cross_workspace"):
            return True, "admin: everything"
        return False, f"{role}: resource is in another workspace"
    if role == "admin":
        return True, "admin: everything in own workspace"
    if action == "read":
        return True, f"{role}: read"
    if role == "viewer":
        if action in _WRITE and faults.is_on("viewer_can_write"):
            return True, "viewer: write"
        return False, "viewer: read-only"
    if role == "developer" and action in _WRITE:
        if environment == "production" and not faults.is_on("developer_can_touch_production"):
            return False, "developer: production workflows are read-only"
        return True, f"developer: {action} on non-production workflows"
    if role == "operator" and action in ("execute", "view_logs"):
        if action == "execute" and faults.is_on("operator_cannot_execute"):
            return False, "operator: execute not granted"
        return True, f"operator: {action}"
    return False, f"{role}: {action} not granted"


def check(principal: Principal, action: str, resource_workspace: str,
          environment: str | None = None) -> tuple[bool, str]:
    """Effective permission of a principal for an action on a resource in a workspace."""
    own = principal.workspace_id == resource_workspace
    if principal.is_service_account and not principal.roles:
        if not own:
            return False, "service account: resource is in another workspace"
        needed = ACTION_SCOPE[action]
        ok = scope_grants(principal.scopes, needed)
        return ok, f"service account scope {needed} {'granted' if ok else 'missing'}"
    reasons = []
    for role in principal.roles:
        ok, reason = role_allows(role, action, own, environment)
        if ok:
            return True, reason
        reasons.append(reason)
    return False, "; ".join(reasons) or "no roles"


def policies(roles) -> list[dict]:
    return [{"role": r, "allowed": TABLE[r], "scopes": ROLE_SCOPES[r]} for r in roles if r in TABLE]
