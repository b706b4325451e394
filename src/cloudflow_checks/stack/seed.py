"""The twin's seed (README "Seed") and the per-run secrets: all random, fresh on every `up`."""
from __future__ import annotations

import secrets

PLATFORM_WORKSPACE = "ws_platform"
PLATFORM_ADMIN = "platform@cloudflow.local"
TIERS = ("free", "standard", "premium")
# Enterprise limits are per workspace (custom_limits); the platform workspace must never be the
# one that runs out, so its limits sit far above anything the suite sends.
PLATFORM_LIMITS = {"per_minute": 100_000, "per_hour": 5_000_000}


def password() -> str:
    return secrets.token_urlsafe(18)


def make_seed() -> dict:
    """Workspace ws_platform (enterprise) with the platform admin, and ws_<tier> with an admin each."""
    workspaces = [{"id": PLATFORM_WORKSPACE, "name": "Platform", "tier": "enterprise",
                   "custom_limits": dict(PLATFORM_LIMITS)}]
    users = [{"email": PLATFORM_ADMIN, "password": password(), "workspace_id": PLATFORM_WORKSPACE,
              "roles": ["platform-admin"]}]
    for tier in TIERS:
        ws_id = f"ws_{tier}"
        workspaces.append({"id": ws_id, "name": f"Demo {tier}", "tier": tier})
        users.append({"email": f"admin@{tier}.cloudflow.local", "password": password(), "workspace_id": ws_id,
                      "roles": ["admin"]})
    return {"workspaces": workspaces, "users": users}


def summary(seed: dict, seed_file: str) -> dict:
    """What stack.json says about the seed: the file, everything in it, and short-cuts to the admins."""
    by_ws = {u["workspace_id"]: u for u in seed["users"]}
    platform = by_ws[PLATFORM_WORKSPACE]
    return {
        "file": seed_file,
        "workspaces": seed["workspaces"],
        "users": seed["users"],
        "platform_admin": {"email": platform["email"], "password": platform["password"],
                           "workspace_id": PLATFORM_WORKSPACE},
        "tier_admins": {tier: {"email": by_ws[f"ws_{tier}"]["email"], "password": by_ws[f"ws_{tier}"]["password"],
                               "workspace_id": f"ws_{tier}"} for tier in TIERS},
    }


def run_secrets() -> dict:
    return {"admin_token": secrets.token_urlsafe(32), "signing_alg": "HS256",
            "signing_key": secrets.token_urlsafe(48)}
