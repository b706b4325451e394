"""Identities the checks act as: throwaway workspaces with one user per role (provisioning), or the
fixed accounts a remote target's configuration names.

Fresh workspaces keep checks independent: each has its own rate-limit budget and its own data, so
checks can run in parallel without eating each other's quota.
"""
from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field

from . import redact
from .client import CloudFlowClient
from .config import Credentials, Target

ROLES = ("viewer", "developer", "operator", "admin")


class ProvisioningError(AssertionError):
    """The target refused to set up what a check needs; the check cannot judge anything."""


def _expect(response, status: int, what: str):
    if response.status_code != status:
        raise ProvisioningError(f"{what}: expected HTTP {status}, got {response.status_code}: "
                                f"{redact.text(response.text[:300])}")
    return response.json()


def login(api: CloudFlowClient, creds: Credentials) -> dict:
    body = _expect(api.login(creds.username, creds.password), 200, f"login as {creds.username}")
    redact.register(body.get("access_token"), body.get("refresh_token"))
    return body


@dataclass
class Workspace:
    """A workspace and its users; tokens are fetched lazily, once per role."""

    api: CloudFlowClient
    id: str
    tier: str
    users: dict[str, Credentials]
    _sessions: dict[str, dict] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def session(self, role: str) -> dict:
        """The login answer (access and refresh token) for a role of this workspace."""
        if role not in self.users:
            raise ProvisioningError(f"workspace {self.id} has no {role} account")
        with self._lock:
            if role not in self._sessions:
                self._sessions[role] = login(self.api, self.users[role])
            return self._sessions[role]

    def token(self, role: str) -> str:
        return self.session(role)["access_token"]

    def as_role(self, role: str) -> CloudFlowClient:
        return self.api.with_token(self.token(role))

    def email(self, role: str) -> str:
        return self.users[role].username


def platform_admin_client(api: CloudFlowClient, target: Target) -> CloudFlowClient:
    if target.platform_admin is None:
        raise ProvisioningError(f"target {target.name} has no platform admin account")
    return api.with_token(login(api, target.platform_admin)["access_token"])


def provision(api: CloudFlowClient, admin: CloudFlowClient, tier: str, *, label: str = "check",
              roles: tuple[str, ...] = ROLES, custom_limits: dict | None = None) -> Workspace:
    """Create a workspace of `tier` with one user per role, through the public API."""
    name = f"{label}-{secrets.token_hex(4)}"
    ws = _expect(admin.create_workspace(name, tier, custom_limits), 201, f"create {tier} workspace")
    users = {}
    for role in roles:
        creds = Credentials(f"{role}.{ws['id']}@checks.cloudflow.local", secrets.token_urlsafe(16))
        redact.register(creds.password)
        _expect(admin.create_user(ws["id"], creds.username, creds.password, [role]), 201,
                f"create {role} user in {ws['id']}")
        users[role] = creds
    return Workspace(api=api, id=ws["id"], tier=tier, users=users)


def configured_workspace(api: CloudFlowClient, target: Target) -> Workspace:
    """The fixed accounts of a target without provisioning (one shared workspace)."""
    if not target.accounts:
        raise ProvisioningError(f"target {target.name} has neither provisioning nor accounts")
    ws = Workspace(api=api, id="", tier="", users=dict(target.accounts))
    any_role = next(iter(target.accounts))
    who = ws.as_role(any_role).whoami()
    ws.id = _expect(who, 200, "whoami").get("workspace_id", "")
    return ws
