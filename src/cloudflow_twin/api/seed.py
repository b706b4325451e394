"""Seed file (README "Seed") and the in-memory workspace limits the rate limiter needs."""
from __future__ import annotations

from psycopg.types.json import Jsonb

from .. import auth, control, logs, ratelimit

log = logs.get_logger("api")


async def upsert_workspace(state, ws_id: str, name: str, tier: str, custom: dict | None = None, conn=None) -> None:
    await state.pool.execute(
        "INSERT INTO workspaces (id, name, tier, custom_limits, created_at) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, tier = EXCLUDED.tier, "
        "custom_limits = EXCLUDED.custom_limits",
        (ws_id, name, tier, Jsonb(custom or {}), control.twin_now()), conn=conn)
    state.limiter.set_limits(ws_id, ratelimit.limits_from(tier, custom, state.settings.tiers))
    state.ws_cache.invalidate(ws_id)


async def upsert_user(state, email: str, password: str, ws_id: str, roles: list, conn=None) -> None:
    await state.pool.execute(
        "INSERT INTO users (email, password_hash, workspace_id, roles, created_at) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash, "
        "workspace_id = EXCLUDED.workspace_id, roles = EXCLUDED.roles",
        (email, auth.hash_password(password), ws_id, list(roles), control.twin_now()), conn=conn)


async def seed(state, data: dict) -> None:
    for ws in data.get("workspaces", []):
        await upsert_workspace(state, ws["id"], ws.get("name", ws["id"]), ws.get("tier", "free"),
                               ws.get("custom_limits"))
    for user in data.get("users", []):
        await upsert_user(state, user["email"], user["password"], user["workspace_id"], user.get("roles", []))
    log.info(f"seeded {len(data.get('workspaces', []))} workspaces and {len(data.get('users', []))} users")


async def load_limits(state) -> None:
    for row in await state.pool.fetch_all("SELECT id, tier, custom_limits FROM workspaces"):
        state.limiter.set_limits(row["id"], ratelimit.limits_from(row["tier"], row["custom_limits"],
                                                                   state.settings.tiers))
