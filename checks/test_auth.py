"""Authentication checks: token lifetimes, refresh, wording, signatures, skew, whoami.

Guide: Authentication & Authorization Issues > 401 Unauthorized Errors.
"""
from __future__ import annotations

from math import ceil, floor

import pytest

from cloudflow_checks import tokens
from cloudflow_checks.assertions import assert_error

pytestmark = pytest.mark.requires("provisioning")


@pytest.mark.behaviour("AUTH-01")
def test_access_token_lives_documented_ttl(workspace, spec):
    """Token Expiration: access tokens expire after 3600 s by default (exp - iat)."""
    claims = tokens.claims(workspace.token("viewer"))
    assert claims["exp"] - claims["iat"] == spec["AUTH-01"]["access_token_ttl_s"]


@pytest.mark.behaviour("AUTH-01")
@pytest.mark.requires("clock_control")
def test_expired_access_token_is_rejected(workspace, clock, spec):
    """Token Expiration: a token well past its exp (beyond any clock-skew allowance) gets 401."""
    client = workspace.as_role("viewer")
    assert client.whoami().status_code == 200
    # three times the skew tolerance past exp: a wrong tolerance is AUTH-05's business, not this check's
    clock.advance(spec["AUTH-01"]["access_token_ttl_s"] + 3 * spec["AUTH-05"]["skew_tolerance_s"])
    assert_error(client.whoami(), spec["AUTH-01"]["status_expired"], spec["AUTH-03"]["message"])


@pytest.mark.behaviour("AUTH-02")
def test_refresh_returns_working_access_token(workspace, api, spec):
    """Token Expiration: POST /auth/refresh with the refresh token returns a new access token."""
    session = workspace.session("viewer")
    refresh_claims = tokens.claims(session["refresh_token"])
    assert refresh_claims["exp"] - refresh_claims["iat"] == spec["AUTH-02"]["refresh_token_ttl_s"]
    response = api.refresh(session["refresh_token"])
    assert response.status_code == 200, response.text
    new_token = response.json()["access_token"]
    assert new_token != session["access_token"]
    assert api.with_token(new_token).whoami().status_code == 200


@pytest.mark.behaviour("AUTH-02")
def test_access_token_is_not_a_refresh_token(workspace, api, spec):
    """Token Expiration: only a refresh token refreshes; an access token in its place gets 401."""
    assert_error(api.refresh(workspace.token("viewer")), 401, spec["AUTH-03"]["message"])


@pytest.mark.behaviour("AUTH-03")
def test_missing_credentials_get_401_with_documented_message(workspace, api, spec):
    """401 Symptoms: no token at all."""
    assert_error(api.list_workflows(), spec["AUTH-03"]["status"], spec["AUTH-03"]["message"])


@pytest.mark.behaviour("AUTH-03")
def test_garbage_token_gets_401_with_documented_message(api, spec):
    """401 Symptoms: a token that is not a JWT."""
    assert_error(api.with_token("not-a-jwt").list_workflows(), spec["AUTH-03"]["status"],
                 spec["AUTH-03"]["message"])


@pytest.mark.behaviour("AUTH-03")
def test_wrong_password_gets_401(workspace, api, spec):
    """401 Symptoms: login with a wrong password."""
    assert_error(api.login(workspace.email("viewer"), "wrong-password"), spec["AUTH-03"]["status"],
                 spec["AUTH-03"]["message"])


@pytest.mark.behaviour("AUTH-04")
def test_modified_token_fails_signature_verification(workspace, api, spec):
    """Invalid JWT Signature: a token whose payload was modified."""
    forged = tokens.tamper(workspace.token("viewer"))
    assert_error(api.with_token(forged).whoami(), spec["AUTH-04"]["status"], spec["AUTH-04"]["message"])


@pytest.mark.behaviour("AUTH-04")
def test_token_signed_with_another_key_fails(workspace, api, spec):
    """Invalid JWT Signature: the same claims signed with a different secret."""
    other = tokens.resign(workspace.token("viewer"))
    assert_error(api.with_token(other).whoami(), spec["AUTH-04"]["status"], spec["AUTH-04"]["message"])


@pytest.mark.behaviour("AUTH-05")
@pytest.mark.requires("signing_key")
@pytest.mark.parametrize("direction", ["ahead", "behind"])
def test_clock_skew_tolerance(workspace, api, cf_target, spec, target_clock_now, direction):
    """Clock Skew Issues: tolerance +-300 s; a token 299 s out is accepted, 301 s out rejected."""
    tolerance = spec["AUTH-05"]["skew_tolerance_s"]
    margin = spec["AUTH-05"]["inside_margin_s"]
    base = tokens.claims(workspace.token("viewer"))
    ttl = base["exp"] - base["iat"]
    now = target_clock_now()
    if direction == "ahead":  # the issuer's clock runs fast: iat/nbf in the future
        inside_iat, outside_iat = floor(now) + tolerance - margin, ceil(now) + tolerance + margin
        inside = tokens.forge(cf_target, base, iat=inside_iat, nbf=inside_iat, exp=inside_iat + ttl)
        outside = tokens.forge(cf_target, base, iat=outside_iat, nbf=outside_iat, exp=outside_iat + ttl)
    else:  # the validator's clock runs fast: exp already in the past
        inside_exp, outside_exp = ceil(now) - (tolerance - margin), floor(now) - (tolerance + margin)
        inside = tokens.forge(cf_target, base, iat=inside_exp - ttl, nbf=inside_exp - ttl, exp=inside_exp)
        outside = tokens.forge(cf_target, base, iat=outside_exp - ttl, nbf=outside_exp - ttl, exp=outside_exp)
    accepted = api.with_token(inside).whoami()
    assert accepted.status_code == 200, f"{tolerance - margin} s {direction}: {accepted.status_code} {accepted.text[:200]}"
    rejected = api.with_token(outside).whoami()
    assert rejected.status_code == 401, f"{tolerance + margin} s {direction} was accepted ({rejected.status_code})"


@pytest.mark.behaviour("AUTH-06")
def test_missing_permission_gets_403_with_documented_message(workspace, spec):
    """Insufficient Permissions: a viewer creating a workflow."""
    response = workspace.as_role("viewer").create_workflow(
        {"name": "not-allowed", "environment": "development", "steps": [{"name": "s", "type": "noop"}]})
    assert_error(response, spec["AUTH-06"]["status"], spec["AUTH-06"]["message"])


@pytest.mark.behaviour("AUTH-07")
@pytest.mark.parametrize("role", ["viewer", "developer", "operator", "admin"])
def test_whoami_reports_user_roles_and_scopes(workspace, spec, role):
    """Insufficient Permissions: `cloudflow auth whoami --verbose` shows user, roles and scopes."""
    response = workspace.as_role(role).whoami()
    assert response.status_code == 200, response.text
    body = response.json()
    for field in spec["AUTH-07"]["fields"]:
        assert body.get(field), f"whoami has no {field}: {body}"
    assert body["user"] == workspace.email(role)
    assert role in body["roles"]
    assert body["scopes"] == tokens.claims(workspace.token(role))["scopes"]


@pytest.mark.behaviour("AUTH-08")
def test_service_account_gets_exactly_its_scopes(workspace, api, spec):
    """Invalid JWT Signature > service accounts: created with "workflow:read,workflow:write"."""
    scopes = spec["AUTH-08"]["scopes"]
    response = workspace.as_role("admin").create_service_account("checks-sa", scopes)
    assert response.status_code == 201, response.text
    token = response.json()["access_token"]
    assert sorted(tokens.claims(token)["scopes"]) == sorted(scopes)
    sa = api.with_token(token)
    assert sa.list_workflows().status_code == 200
    created = sa.create_workflow({"name": "sa-wf", "environment": "development",
                                  "steps": [{"name": "s", "type": "noop"}]})
    assert created.status_code == 201, created.text
    # workflow:execute is not among its scopes (the wording of the 403 is AUTH-06's business)
    refused = sa.execute(created.json()["id"])
    assert refused.status_code == spec["AUTH-06"]["status"], f"a scope it lacks was honoured: {refused.status_code}"


@pytest.mark.behaviour("AUTH-09")
def test_access_request_is_recorded_as_pending(workspace, spec):
    """Insufficient Permissions: request-access with a justification, then list-requests --status pending."""
    values = spec["AUTH-09"]
    client = workspace.as_role("developer")
    response = client.request_access(values["resource"], values["justification"])
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == values["status"]
    listed = client.access_requests(values["status"]).json()["requests"]
    match = [r for r in listed if r["id"] == created["id"]]
    assert match, f"request {created['id']} not listed as {values['status']}"
    assert match[0]["justification"] == values["justification"]
    assert match[0]["resource"] == values["resource"]
    assert client.request_access(values["resource"], None).status_code == 422
