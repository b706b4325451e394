"""What an experiment works with on one target: its API (as a workspace admin of its own), its
Toxiproxy (by the target's proxy names), and where it has them the twin's control, the partner
stub's control, the clock and the logs. Built from a resolved `Target`, local or remote."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .. import accounts, exchanges
from ..client import CloudFlowClient, PartnerControl, TwinControl
from ..clock import Clock
from ..config import Target
from ..logsource import FileLogSource
from ..spec import Spec
from .faults import ChaosProxies


class MissingCapability(Exception):
    """The target lacks what the experiment needs: skipped, with the reason in the report."""


def _client(base_url: str, timeout: float, connections: int) -> httpx.Client:
    return httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=32),
                        event_hooks=exchanges.client_hooks())


def _once_serving(log_in, within_s: float):
    """Log in as soon as the target serves. A 503 is "not yet": a partition that was just healed
    (by the start-up sweep or an interrupted run's rollback) may leave the target's pool holding
    connections it cut, and its first requests fail until it has purged them; the guide's
    recovery bound (DB-03) applies. Anything else, or a 503 past the bound, is raised."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            return log_in()
        except accounts.ProvisioningError as exc:
            if "got 503" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(0.5)

@dataclass
class ChaosContext:
    target: Target
    spec: Spec
    proxies: ChaosProxies
    api: CloudFlowClient                    # anonymous, a pool big enough for a burst over the DB pool
    admin: CloudFlowClient                  # the experiment's workspace admin
    probe_client: CloudFlowClient           # the steady-state prober's own connections, short timeout
    workspace: accounts.Workspace
    control: TwinControl | None = None
    partner: PartnerControl | None = None
    _clock: Clock | None = field(default=None, repr=False)

    @classmethod
    def build(cls, target: Target, spec: Spec, *, workspace: accounts.Workspace | None = None,
              probe_timeout_s: float = 10.0) -> "ChaosContext":
        if not target.toxiproxy_url:
            raise MissingCapability(f"target {target.name} has no Toxiproxy URL configured")
        proxies = ChaosProxies(target.toxiproxy_url, target.proxies)
        api = CloudFlowClient(target.base_url, http=_client(target.base_url, 35.0, 256))
        if workspace is None:
            recover_s = float(spec["DB-03"].tolerance("recover_s"))
            if target.has("provisioning"):
                admin_client = _once_serving(lambda: accounts.platform_admin_client(api, target), recover_s)
                workspace = accounts.provision(api, admin_client, "premium", label="chaos", roles=("admin",))
            else:
                workspace = _once_serving(lambda: accounts.configured_workspace(api, target), recover_s)
        admin = workspace.as_role("admin")        # shares the api's connection pool
        probe = CloudFlowClient(target.base_url, admin.token, http=_client(target.base_url, probe_timeout_s, 8))
        control = (TwinControl(target.control_url, target.control_token)
                   if target.control_url and target.control_token else None)
        partner = PartnerControl(target.partner_control_url) if target.has("partner_control") else None
        return cls(target, spec, proxies, api, admin, probe, workspace, control, partner)

    def target_info(self) -> dict:
        return {"name": self.target.name, "kind": self.target.kind, "base_url": self.target.base_url,
                "production": self.target.production, "toxiproxy_url": self.target.toxiproxy_url,
                "proxies": dict(self.target.proxies)}

    def require(self, *capabilities: str) -> None:
        missing = [c for c in capabilities if not self.target.has(c)]
        if missing:
            raise MissingCapability(f"target {self.target.name} lacks capability {', '.join(missing)}")

    def client(self, timeout_s: float, connections: int = 16) -> CloudFlowClient:
        """The admin identity on connections of its own (a burst, a writer) with its own timeout."""
        return CloudFlowClient(self.target.base_url, self.admin.token,
                               http=_client(self.target.base_url, timeout_s, connections))

    def clock(self) -> Clock:
        """The target's clock; put back by `after_rollback`. The caller holds the target exclusively."""
        self.require("clock_control")
        if self._clock is None:
            self._clock = Clock(self.control)
        return self._clock

    def logs(self) -> FileLogSource:
        self.require("logs")
        if self.target.log_source not in (None, "files") or not self.target.log_files:
            raise MissingCapability(f"target {self.target.name}: experiments read log files only")
        source = FileLogSource(self.target.log_files)
        source.mark()
        return source

    def after_rollback(self) -> None:
        """Put back what experiments change through the target's own controls (clock, stub mode)."""
        if self._clock is not None:
            try:
                self._clock.restore()
            finally:
                self._clock = None
        if self.partner is not None:
            try:
                self.partner.set_mode(200)
            except httpx.HTTPError:
                pass

    def close(self) -> None:
        for c in (self.api, self.probe_client):
            c.close()
        for c in (self.control, self.partner):
            if c is not None:
                c.close()
