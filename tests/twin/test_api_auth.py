"""AUTH-01..09, RBAC-01..06 against a real twin API on real PostgreSQL."""
from __future__ import annotations

import jwt
import pytest
from test_api_harness import SIGNING_KEY, _clean_twin, api, pg_server  # noqa: F401 (fixtures)

UNAUTH = "Authentication credentials were not provided or are invalid"
FORBIDDEN = "User does not have required permissions for this operation"


def bearer(token: str) -> dict:
    return {"Authorization": "Bearer " + token}


def test_login_token_lifetime_and_claims(api):
    pair = api.login("admin@free.local")
    claims = jwt.decode(pair["access_token"], SIGNING_KEY, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["exp"] - claims["iat"] == 3600 == pair["expires_in"]
    assert (claims["sub"], claims["ws"], claims["type"], claims["nbf"]) == ("admin@free.local", "ws_free", "access",
                                                                             claims["iat"])
    refresh = jwt.decode(pair["refresh_token"], SIGNING_KEY, algorithms=["HS256"], options={"verify_exp": False})
    assert refresh["exp"] - refresh["iat"] == 30 * 24 * 3600
    api.set_faults("token_ttl_7200")
    assert api.login("admin@free.local")["expires_in"] == 7200


def test_bad_credentials_and_missing_token_are_401_with_documented_wording(api):
    r = api.http.post("/auth/login", json={"username": "admin@free.local", "password": "nope"})
    assert r.status_code == 401 and r.json()["message"] == UNAUTH and r.json()["correlation_id"].startswith("corr_")
    r = api.http.get("/auth/whoami")
    assert (r.status_code, r.json()["error"], r.json()["message"]) == (401, "unauthorized", UNAUTH)
    api.set_faults("auth_500")
    assert api.http.get("/auth/whoami").status_code == 500


def test_expiry_and_clock_skew_follow_twin_time(api):
    headers = api.token("viewer@free.local")
    assert api.http.get("/auth/whoami", headers=headers).status_code == 200
    api.advance(3600 + 290)   # expired 290 s ago: inside the 300 s leeway
    assert api.http.get("/auth/whoami", headers=headers).status_code == 200
    api.advance(20)           # 310 s past exp
    assert api.http.get("/auth/whoami", headers=headers).status_code == 401
    api.set_faults("skew_600")
    assert api.http.get("/auth/whoami", headers=headers).status_code == 200


def test_token_from_the_future_outside_leeway_is_rejected(api):
    now = int(api.control("GET", "/clock").json()["now"])
    def forged(iat):
        return jwt.encode({"sub": "viewer@free.local", "ws": "ws_free", "roles": ["viewer"], "scopes": [],
                           "type": "access", "iat": iat, "nbf": iat, "exp": iat + 3600, "jti": "x"},
                          SIGNING_KEY, algorithm="HS256")
    assert api.http.get("/auth/whoami", headers=bearer(forged(now + 250))).status_code == 200
    assert api.http.get("/auth/whoami", headers=bearer(forged(now + 400))).status_code == 401


def test_refresh_gives_new_access_token_and_rejects_access_tokens(api):
    pair = api.login("dev@free.local")
    r = api.http.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 200 and r.json()["access_token"] and r.json()["refresh_token"]
    assert api.http.get("/auth/whoami", headers=bearer(r.json()["access_token"])).status_code == 200
    assert api.http.post("/auth/refresh", json={"refresh_token": pair["access_token"]}).status_code == 401
    api.set_faults("refresh_rejected")
    assert api.http.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401


def test_tampered_or_foreign_signature_is_invalid_signature(api):
    token = api.login("viewer@free.local")["access_token"]
    foreign = jwt.encode(jwt.decode(token, options={"verify_signature": False}), "another-key-0123456789abcdef01234",
                         algorithm="HS256")
    r = api.http.get("/auth/whoami", headers=bearer(foreign))
    assert (r.status_code, r.json()["error"], r.json()["message"]) == (401, "invalid_signature",
                                                                       "JWT signature verification failed")
    v = api.http.post("/auth/validate", json={"token": foreign}, headers=bearer(token)).json()
    assert v == {"valid": False, "error": "JWT signature verification failed", "claims": None}
    api.set_faults("signature_not_checked")
    assert api.http.get("/auth/whoami", headers=bearer(foreign)).status_code == 200


def test_whoami_and_service_account_scopes(api):
    admin = api.token("admin@free.local")
    me = api.http.get("/auth/whoami", headers=api.token("op@free.local")).json()
    assert me["roles"] == ["operator"] and "workflow:execute" in me["scopes"]
    r = api.http.post("/auth/service-accounts", headers=admin, json={"name": "ci", "scopes": ["workflow:read"]})
    assert r.status_code == 201 and "secret" not in r.text
    sa = r.json()
    claims = jwt.decode(sa["access_token"], SIGNING_KEY, algorithms=["HS256"])
    assert claims["scopes"] == ["workflow:read"] and claims["roles"] == []
    sa_headers = bearer(sa["access_token"])
    assert api.http.get("/api/v1/workflows", headers=sa_headers).status_code == 200
    r = api.http.post("/api/v1/workflows", headers=sa_headers, json={"name": "x"})
    assert (r.status_code, r.json()["message"]) == (403, FORBIDDEN)
    api.set_faults("sa_extra_scopes")
    sa2 = api.http.post("/auth/service-accounts", headers=admin, json={"name": "ci2", "scopes": ["workflow:read"]})
    assert "workflow:execute" in jwt.decode(sa2.json()["access_token"], options={"verify_signature": False})["scopes"]


def test_access_requests_need_justification_and_list_as_pending(api):
    dev = api.token("dev@free.local")
    assert api.http.post("/auth/access-requests", headers=dev, json={"resource": "workflow:production:deploy"}
                         ).status_code == 422
    r = api.http.post("/auth/access-requests", headers=dev,
                      json={"resource": "workflow:production:deploy", "justification": "hotfix TICKET-1234"})
    assert r.status_code == 201 and r.json()["status"] == "pending"
    listed = api.http.get("/auth/access-requests?status=pending", headers=dev).json()["requests"]
    assert r.json()["id"] in [x["id"] for x in listed]
    admin_view = api.http.get("/auth/access-requests?status=pending", headers=api.token("admin@free.local")).json()
    assert r.json()["id"] in [x["id"] for x in admin_view["requests"]]


def _wf(api, headers, env="development", ws=None):
    body = {"name": f"wf-{env}", "environment": env, "steps": [{"type": "noop"}]}
    if ws:
        body["workspace_id"] = ws
    r = api.http.post("/api/v1/workflows", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_rbac_table(api):
    admin, viewer, dev, op = (api.token(u) for u in ("admin@free.local", "viewer@free.local", "dev@free.local",
                                                    "op@free.local"))
    prod = _wf(api, admin, "production")
    devwf = _wf(api, admin)
    assert api.http.get(f"/api/v1/workflows/{prod}", headers=viewer).status_code == 200
    assert api.http.patch(f"/api/v1/workflows/{devwf}", headers=viewer, json={"name": "x"}).status_code == 403
    assert api.http.patch(f"/api/v1/workflows/{devwf}", headers=dev, json={"name": "x"}).status_code == 200
    assert api.http.patch(f"/api/v1/workflows/{prod}", headers=dev, json={"name": "x"}).status_code == 403
    assert api.http.post("/api/v1/workflows", headers=dev, json={"name": "p", "environment": "production"}
                         ).status_code == 403
    assert api.http.post(f"/api/v1/workflows/{devwf}/execute", headers=dev, json={}).status_code == 403
    assert api.http.post(f"/api/v1/workflows/{prod}/execute", headers=op, json={}).status_code == 202
    assert api.http.patch(f"/api/v1/workflows/{devwf}", headers=op, json={"name": "y"}).status_code == 403
    # another workspace: 403, not 404; platform-admin crosses workspaces
    other = api.token("admin@other.local")
    assert api.http.get(f"/api/v1/workflows/{devwf}", headers=other).status_code == 403
    assert api.http.get(f"/api/v1/workflows/{devwf}", headers=api.token("platform@cloudflow.local")).status_code == 200
    api.set_faults("viewer_can_write")
    assert api.http.patch(f"/api/v1/workflows/{devwf}", headers=viewer, json={"name": "z"}).status_code == 200


def test_rbac_check_and_policies(api):
    admin = api.token("admin@free.local")
    prod = _wf(api, admin, "production")
    def check(user, action, resource=f"workflow:{prod}"):
        r = api.http.post("/api/v1/rbac/check", headers=admin, json={"user": user, "resource": resource,
                                                                     "action": action})
        assert r.status_code == 200, r.text
        return r.json()["allowed"]
    assert check("op@free.local", "execute") and not check("viewer@free.local", "execute")
    assert not check("dev@free.local", "update") and check("dev@free.local", "read")
    assert not check("admin@other.local", "read")
    assert api.http.post("/api/v1/rbac/check", headers=api.token("viewer@free.local"), json={
        "user": "op@free.local", "resource": f"workflow:{prod}", "action": "read"}).status_code == 403
    pol = api.http.get("/api/v1/rbac/policies?user=dev@free.local", headers=admin).json()
    assert pol["roles"] == ["developer"] and pol["policies"][0]["role"] == "developer"
    api.set_faults("rbac_check_lies")
    assert check("viewer@free.local", "execute")
