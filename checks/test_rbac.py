"""RBAC checks: what each role may do, in its own workspace and outside it, and whether the rbac
check endpoint tells the truth about it.

Guide: Authentication & Authorization Issues > 403 Forbidden Errors > RBAC Policy Violations.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from cloudflow_checks.assertions import json_of

pytestmark = pytest.mark.requires("provisioning")

ACTIONS = ("read", "create", "update", "delete", "execute", "view_logs", "manage")
PLACES = ("development", "production", "other_workspace")
ALLOWED = {200, 201, 202, 204}
NOOP = [{"name": "only", "type": "noop"}]


@dataclass
class Estate:
    """Two workspaces; in `home` a development and a production workflow, each executed once."""
    home: object
    other: object
    workflows: dict    # place -> workflow id
    executions: dict   # place -> execution id


def _workflow(client, environment: str, name: str) -> str:
    return json_of(client.create_workflow({"name": name, "environment": environment, "steps": NOOP}), 201)["id"]


@pytest.fixture
def estate(workspace_factory) -> Estate:
    home, other = workspace_factory("premium"), workspace_factory("premium")
    admin, other_admin = home.as_role("admin"), other.as_role("admin")
    workflows = {"development": _workflow(admin, "development", "rbac-dev"),
                 "production": _workflow(admin, "production", "rbac-prod"),
                 "other_workspace": _workflow(other_admin, "development", "rbac-other")}
    executions = {place: json_of((other_admin if place == "other_workspace" else admin).execute(wf), 202)["execution_id"]
                  for place, wf in workflows.items()}
    return Estate(home, other, workflows, executions)


def attempt(client, estate: Estate, owner_admin, action: str, place: str):
    """Try `action` on the workflow at `place`; return the response."""
    wf, execution = estate.workflows[place], estate.executions[place]
    if action == "read":
        return client.workflow(wf)
    if action == "create":
        return client.create_workflow({"name": "rbac-new", "environment": place, "steps": NOOP})
    if action == "update":
        return client.update_workflow(wf, {"name": "rbac-renamed"})
    if action == "delete":  # on a fresh workflow, so the estate stays whole
        env = "development" if place == "other_workspace" else place
        return client.delete_workflow(_workflow(owner_admin, env, "rbac-doomed"))
    if action == "execute":
        return client.execute(wf)
    if action == "view_logs":
        return client.execution_logs(execution)
    if action == "manage":
        ws = estate.other.id if place == "other_workspace" else estate.home.id
        return client.create_user(ws, f"rbac-{place}-{id(client)}@checks.cloudflow.local", "Pa55word-rbac", ["viewer"])
    raise ValueError(action)


def expected(spec, role: str, action: str, place: str) -> bool:
    if role == "platform-admin":
        return action in spec["RBAC-05"]["allowed"]
    if place == "other_workspace":
        return False
    if role == "viewer":
        return action in spec["RBAC-01"]["allowed"]
    if role == "developer":
        key = "allowed_production" if place == "production" else "allowed_non_production"
        return action in spec["RBAC-02"][key]
    if role == "operator":
        return action in spec["RBAC-03"]["allowed"]
    if role == "admin":
        return action in spec["RBAC-04"]["allowed"]
    raise ValueError(role)


def applicable(action: str, place: str) -> bool:
    # one creates workflows only in one's own workspace: the API has no way to name another
    return not (action == "create" and place == "other_workspace")


def run_matrix(spec, estate: Estate, client, role: str) -> list[str]:
    wrong = []
    for place in PLACES:
        owner_admin = estate.other.as_role("admin") if place == "other_workspace" else estate.home.as_role("admin")
        for action in ACTIONS:
            if not applicable(action, place):
                continue
            response = attempt(client, estate, owner_admin, action, place)
            want = expected(spec, role, action, place)
            got = response.status_code in ALLOWED
            if want != got or (not want and response.status_code != spec["AUTH-06"]["status"]):
                wrong.append(f"{role} {action} on {place}: expected {'allowed' if want else '403'}, "
                             f"got {response.status_code} {response.text[:120]}")
    return wrong


@pytest.mark.parametrize("role, behaviour", [
    pytest.param("viewer", "RBAC-01", marks=pytest.mark.behaviour("RBAC-01")),
    pytest.param("developer", "RBAC-02", marks=pytest.mark.behaviour("RBAC-02")),
    pytest.param("operator", "RBAC-03", marks=pytest.mark.behaviour("RBAC-03")),
    pytest.param("admin", "RBAC-04", marks=pytest.mark.behaviour("RBAC-04")),
])
def test_role_matrix(spec, estate, role, behaviour):
    """RBAC Policy Violations: each role x action x (development, production, other workspace)."""
    wrong = run_matrix(spec, estate, estate.home.as_role(role), role)
    assert not wrong, "\n".join(wrong)


@pytest.mark.behaviour("RBAC-05")
def test_platform_admin_administers_every_workspace(spec, estate, platform_admin):
    """RBAC Policy Violations: platform-admin has cross-workspace administration."""
    wrong = run_matrix(spec, estate, platform_admin, "platform-admin")
    assert not wrong, "\n".join(wrong)


@pytest.mark.behaviour("RBAC-06")
@pytest.mark.parametrize("role", ["viewer", "developer", "operator", "admin"])
def test_rbac_check_agrees_with_what_the_api_allows(spec, estate, platform_admin, role):
    """RBAC Policy Violations: `cloudflow rbac check --user --resource --action` tells the truth."""
    user = estate.home.email(role)
    client = estate.home.as_role(role)
    disagreements = []
    for place in ("development", "production", "other_workspace"):
        owner_admin = estate.other.as_role("admin") if place == "other_workspace" else estate.home.as_role("admin")
        for action in ("read", "update", "execute", "view_logs"):
            resource = f"workflow:{estate.workflows[place]}"
            answer = json_of(platform_admin.rbac_check(user, resource, action))
            actual = attempt(client, estate, owner_admin, action, place).status_code in ALLOWED
            if answer.get("allowed") is not actual:
                disagreements.append(f"{role} {action} {resource} ({place}): rbac check says "
                                     f"{answer.get('allowed')}, the API {'allowed' if actual else 'refused'} it")
    assert not disagreements, "\n".join(disagreements)
