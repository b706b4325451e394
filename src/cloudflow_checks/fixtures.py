"""Fixtures every check can ask for. Resources have explicit scopes and teardown (pytest style)."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import allure
import pytest

from . import accounts
from . import spec as spec_module
from .client import CloudFlowClient, PartnerControl, TwinControl
from .clock import Clock, TargetLock
from .logsource import FileLogSource

__all__ = ["spec", "cf_target", "api", "platform_admin", "workspace_factory", "workspace",
           "control", "clock", "partner", "target_clock_now", "exclusive_target", "logs", "toxiproxy", "_cloudflow_allure_labels"]


@pytest.fixture(scope="session")
def spec():
    """The documented values (spec/cloudflow-3.2.1.yaml)."""
    return spec_module.load()


@pytest.fixture(scope="session")
def cf_target(request):
    """The resolved target (the twin's stack is up when the target is local)."""
    from .plugin import _target
    return _target(request.config)


@pytest.fixture(scope="session")
def api(cf_target):
    """An anonymous client of the target's public API."""
    client = CloudFlowClient(cf_target.base_url)
    yield client
    client.close()


@pytest.fixture
def platform_admin(api, cf_target):
    """The platform admin, logged in afresh for each check: a session-long token would outlive a
    clock moved by a check or a load run (it is one request)."""
    if not cf_target.has("provisioning"):
        pytest.skip(f"target {cf_target.name} lacks capability provisioning")
    return accounts.platform_admin_client(api, cf_target)


@pytest.fixture
def workspace_factory(api, cf_target, request):
    """Make throwaway workspaces: `workspace_factory("free")` -> Workspace with one user per role."""
    def make(tier: str = "premium", **kwargs) -> accounts.Workspace:
        admin = request.getfixturevalue("platform_admin")
        return accounts.provision(api, admin, tier, label=request.node.name[:24], **kwargs)
    return make


@pytest.fixture
def workspace(api, cf_target, request):
    """A premium workspace of the check's own (or the target's configured accounts)."""
    if cf_target.has("provisioning"):
        return request.getfixturevalue("workspace_factory")("premium")
    return accounts.configured_workspace(api, cf_target)


@pytest.fixture(scope="session")
def control(cf_target):
    """The twin's control API (clock, fault switches)."""
    if not cf_target.control_url:
        pytest.skip(f"target {cf_target.name} has no control API")
    ctl = TwinControl(cf_target.control_url, cf_target.control_token)
    yield ctl
    ctl.close()


def _lock_folder(target) -> Path:
    if target.state_dir is not None:
        return target.state_dir / "locks"
    return Path(tempfile.gettempdir()) / f"cloudflow-checks-{target.name}"


@pytest.fixture
def exclusive_target(cf_target):
    """Hold the target alone: no other check runs while this one breaks something for everyone."""
    with TargetLock(_lock_folder(cf_target)).exclusive():
        yield cf_target


@pytest.fixture
def clock(cf_target, request):
    """The target's clock, held exclusively by this check and put back afterwards."""
    if not cf_target.has("clock_control"):
        pytest.skip(f"target {cf_target.name} lacks capability clock_control")
    request.getfixturevalue("exclusive_target")
    handle = Clock(request.getfixturevalue("control"))
    try:
        yield handle
    finally:
        handle.restore()


@pytest.fixture
def target_clock_now(cf_target, request):
    """A function giving the target's idea of now: its controlled clock when it has one, else ours."""
    def now() -> float:
        if cf_target.has("clock_control"):
            return request.getfixturevalue("control").now()
        return time.time()
    return now


@pytest.fixture
def toxiproxy(cf_target):
    """The target's Toxiproxy admin API (capability toxiproxy). Proxy names: cf_target.proxies."""
    if not cf_target.has("toxiproxy") or not cf_target.toxiproxy_url:
        pytest.skip(f"target {cf_target.name} lacks capability toxiproxy")
    from .toxiproxy_client import ToxiproxyAdmin
    return ToxiproxyAdmin(cf_target.toxiproxy_url)


@pytest.fixture
def logs(cf_target):
    """The target's logs from this point on (capability logs)."""
    if not cf_target.has("logs"):
        pytest.skip(f"target {cf_target.name} lacks capability logs")
    if cf_target.log_source == "kubernetes":
        from .kube.logs import KubernetesLogSource
        from .kube.target import KubeTargetError, kube_access
        try:
            access = kube_access(cf_target)
        except KubeTargetError as exc:
            pytest.fail(str(exc), pytrace=False)
        source = KubernetesLogSource(access.api_client, access.namespace, cf_target.log_deployments)
        source.mark()
        yield source
        access.api_client.close()
        return
    source = FileLogSource(cf_target.log_files)
    source.mark()
    yield source


@pytest.fixture
def partner(cf_target, request):
    """The partner-API stub's control (capability partner_control); one check at a time uses it."""
    if not cf_target.has("partner_control"):
        pytest.skip(f"target {cf_target.name} lacks capability partner_control")
    request.getfixturevalue("exclusive_target")
    ctl = PartnerControl(cf_target.partner_control_url)
    yield ctl
    ctl.set_mode(200)
    ctl.close()


@pytest.fixture(autouse=True)
def _cloudflow_allure_labels(request):
    """Allure labels from the behaviour markers."""
    from .plugin import _behaviours
    ids = _behaviours(request.node)
    if not ids:
        yield
        return
    spec = spec_module.load()
    first = spec[ids[0]]
    allure.dynamic.epic(first.guide.split(" > ")[0])
    allure.dynamic.feature(first.guide)
    for bid in ids:
        allure.dynamic.story(bid)
        allure.dynamic.tag(spec[bid].severity)
    allure.dynamic.severity(_ALLURE_SEVERITY[min(spec[b].severity for b in ids)])
    yield  # the shared target lock is held by plugin.pytest_runtest_protocol


_ALLURE_SEVERITY = {"SEV-1": allure.severity_level.BLOCKER, "SEV-2": allure.severity_level.CRITICAL,
                    "SEV-3": allure.severity_level.NORMAL, "SEV-4": allure.severity_level.MINOR}
