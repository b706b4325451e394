"""Auth endpoints (AUTH-01..09): login, refresh, whoami, validate, service accounts, access requests."""
from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from .. import auth, control, faults, logs, rbac
from .common import new_id, ok, principal, require, twin
from .errors import ApiError

router = APIRouter(tags=["auth"])
log = logs.get_logger("auth")


class LoginBody(BaseModel):
    username: str
    password: str


class RefreshBody(BaseModel):
    refresh_token: str


class ValidateBody(BaseModel):
    token: str


class ServiceAccountBody(BaseModel):
    name: str = Field(min_length=1)
    scopes: list[str]


class AccessRequestBody(BaseModel):
    resource: str = Field(min_length=1)
    justification: str = Field(min_length=1)


def _pair(state, sub: str, ws: str, roles: list, scopes: list) -> dict:
    access, ttl = state.tokens.issue(sub, ws, roles, scopes, "access")
    refresh, _ = state.tokens.issue(sub, ws, roles, scopes, "refresh")
    return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": ttl}


@router.post("/auth/login")
async def login(body: LoginBody, request: Request):
    state = twin(request)
    row = await state.pool.fetch_one("SELECT email, password_hash, workspace_id, roles FROM users WHERE email = %s",
                                     (body.username,))
    if row is None or not auth.verify_password(body.password, row["password_hash"]):
        raise auth.unauthorized(f"bad credentials for {body.username!r}")
    log.info(f"login {row['email']}", workspace_id=row["workspace_id"])
    return ok(_pair(state, row["email"], row["workspace_id"], row["roles"], rbac.scopes_for(row["roles"])))


@router.post("/auth/refresh")
async def refresh(body: RefreshBody, request: Request):
    state = twin(request)
    if faults.is_on("refresh_rejected"):
        raise auth.unauthorized("refresh disabled")
    claims = state.tokens.validate(body.refresh_token, expected_type="refresh")
    pair = _pair(state, claims["sub"], claims.get("ws", ""), claims.get("roles") or [], claims.get("scopes") or [])
    return ok({k: pair[k] for k in ("access_token", "refresh_token", "token_type", "expires_in")})


@router.get("/auth/whoami")
async def whoami(request: Request):
    who = principal(request)
    scopes = [] if faults.is_on("whoami_no_scopes") else who.scopes
    return ok({"user": who.sub, "workspace_id": who.workspace_id, "roles": who.roles, "scopes": scopes,
               "token_type": who.claims.get("type"), "expires_at": who.claims.get("exp")})


@router.post("/auth/validate")
async def validate(body: ValidateBody, request: Request):
    try:
        claims = twin(request).tokens.validate(body.token)
    except ApiError as exc:
        return ok({"valid": False, "error": exc.message, "claims": None})
    return ok({"valid": True, "error": None, "claims": claims})


@router.post("/auth/service-accounts", status_code=201)
async def create_service_account(body: ServiceAccountBody, request: Request):
    state = twin(request)
    who = require(request, "manage", principal(request).workspace_id)
    sa_id = new_id("sa_")
    scopes = list(dict.fromkeys(body.scopes))
    await state.pool.execute(
        "INSERT INTO service_accounts (id, name, workspace_id, scopes, created_by, created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s)", (sa_id, body.name, who.workspace_id, scopes, who.sub, control.twin_now()))
    # the fault grants a scope nobody asked for (the guide's example asks for read and write)
    token_scopes = scopes + (["workflow:execute"] if faults.is_on("sa_extra_scopes") and "workflow:execute" not in scopes
                             else [])
    token, ttl = state.tokens.issue(sa_id, who.workspace_id, [], token_scopes, "access")
    log.info(f"service account {sa_id} created with scopes {','.join(scopes)}")
    return ok({"id": sa_id, "name": body.name, "scopes": scopes, "access_token": token, "expires_in": ttl}, 201)


@router.post("/auth/access-requests", status_code=201)
async def create_access_request(body: AccessRequestBody, request: Request):
    state, who = twin(request), principal(request)
    if not body.justification.strip():
        raise ApiError(422, "validation_error", "justification: a justification is required")
    status = "approved" if faults.is_on("access_request_approved") else "pending"
    ar = {"id": new_id("ar_"), "status": status, "resource": body.resource, "justification": body.justification,
          "user": who.sub, "created_at": control.twin_now()}
    await state.pool.execute(
        "INSERT INTO access_requests (id, workspace_id, user_email, resource, justification, status, created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (ar["id"], who.workspace_id, who.sub, body.resource, body.justification, status, ar["created_at"]))
    log.info(f"access request {ar['id']} for {body.resource} by {who.sub}")
    return ok(ar, 201)


@router.get("/auth/access-requests")
async def list_access_requests(request: Request, status: str | None = None):
    state, who = twin(request), principal(request)
    is_admin = rbac.check(who, "manage", who.workspace_id)[0]
    sql = ("SELECT id, status, resource, justification, user_email AS user, created_at FROM access_requests "
           "WHERE workspace_id = %s")
    params: list = [who.workspace_id]
    if not is_admin:
        sql += " AND user_email = %s"
        params.append(who.sub)
    if status:
        sql += " AND status = %s"
        params.append(status)
    rows = await state.pool.fetch_all(sql + " ORDER BY created_at", params)
    return ok({"requests": rows})
