"""Toxiproxy faults for experiments, over the suite's adapter (`toxiproxy_client.ToxiproxyAdmin`).

Proxies are addressed by their logical name (`postgres`, `partner_api`); the target's configuration
maps them to the Toxiproxy names (`cf_target.proxies`), so a remote target with other names works.
Every toxic is named with the `cfc_` prefix (the sweep finds what a killed run left behind), and
every fault is a context manager that undoes itself on every exit path (DESIGN.md house rule 4).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator
from urllib.parse import urlsplit

from ..toxiproxy_client import SUITE_PREFIX, NotFound, ToxicInfo, ToxiproxyAdmin, ToxiproxyError
from . import netprobe

# Logical proxy name -> what its upstream speaks (for the fresh round-trip probe).
PROXY_KINDS = {"postgres": "postgres", "partner_api": "http"}
WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}


class FaultNotLive(AssertionError):
    """The fault could not be injected or its effect was not seen: the experiment cannot judge."""


@dataclass(frozen=True)
class SweepFinding:
    proxy: str
    what: str          # "toxic" | "disabled proxy"
    name: str
    detail: str

    def __str__(self) -> str:
        return f"{self.what} {self.name} on {self.proxy} ({self.detail})"


@dataclass
class Fault:
    """One injected fault as the journal shows it."""
    kind: str                       # toxic | partition
    proxy: str                      # Toxiproxy name
    logical: str
    toxic: str | None = None
    type: str | None = None
    stream: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    injected_at: float | None = None     # run-relative seconds
    healed_at: float | None = None
    read_back: dict[str, Any] | None = None
    rollback: str = "pending"
    impacts_steady: bool = True          # the steady-state probe is expected to break while it lasts

    def to_json(self) -> dict:
        return dict(self.__dict__)


class ChaosProxies:
    """The target's chaos proxies on its Toxiproxy server."""

    def __init__(self, toxiproxy_url: str, names: dict[str, str], timeout: float = 5.0):
        self.admin = ToxiproxyAdmin(toxiproxy_url, timeout=timeout)
        self.names = dict(names)
        self._host = urlsplit(self.admin.url).hostname or "127.0.0.1"

    def name(self, logical: str) -> str:
        try:
            return self.names[logical]
        except KeyError:
            raise FaultNotLive(f"the target configures no Toxiproxy proxy for {logical!r} "
                               f"(configured: {sorted(self.names)})") from None

    # --- reading back ------------------------------------------------------------------------
    def listen(self, logical: str) -> tuple[str, int]:
        """Where clients of this proxy connect; a wildcard listen host means the Toxiproxy host."""
        host, port = self.admin.proxy(self.name(logical)).listen_host_port
        host = host.strip("[]") if host not in WILDCARD_HOSTS else self._host
        return host, port

    def fresh_round_trip(self, logical: str, timeout_s: float) -> netprobe.RoundTrip:
        host, port = self.listen(logical)
        return netprobe.round_trip(host, port, netprobe.payload_for(PROXY_KINDS.get(logical, "http")), timeout_s)

    def suite_toxics(self) -> dict[str, list[ToxicInfo]]:
        """Every `cfc_` toxic on every proxy of the server (proxy -> toxics)."""
        return {name: [t for t in info.toxics if t.name.startswith(SUITE_PREFIX)]
                for name, info in self.admin.proxies().items()}

    def leftovers(self) -> list[str]:
        """What a clean state would not have: suite toxics anywhere, configured proxies disabled."""
        found = [f"toxic {t.name} on {p}" for p, toxics in self.suite_toxics().items() for t in toxics]
        proxies = self.admin.proxies()
        found += [f"proxy {n} disabled" for n in self.names.values() if n in proxies and not proxies[n].enabled]
        return found

    # --- faults ------------------------------------------------------------------------------
    @contextmanager
    def toxic(self, logical: str, type: str, attributes: dict[str, Any], *, label: str,
              stream: str = "downstream", on_inject=None) -> Iterator[Fault]:
        """A toxic on the proxy for the block, read back from the API; removed on every exit path."""
        proxy = self.name(logical)
        fault = Fault("toxic", proxy, logical, toxic=f"{SUITE_PREFIX}{label}_{type}_{stream}"[:80],
                      type=type, stream=stream, attributes=dict(attributes))
        try:
            self.admin.add_toxic(proxy, type, attributes, stream=stream, name=fault.toxic)
        except BaseException as exc:
            # a call that timed out or was interrupted may have been applied all the same
            fault.rollback = self._remove(proxy, fault.toxic)
            if isinstance(exc, ToxiproxyError):
                raise FaultNotLive(f"could not add toxic {fault.toxic} to {proxy}: {exc}") from None
            raise
        try:
            if on_inject:
                on_inject(fault)
            stored = self.admin.toxic(proxy, fault.toxic)
            fault.read_back = {"name": stored.name, "type": stored.type, "stream": stored.stream,
                               "toxicity": stored.toxicity, "attributes": stored.attributes}
            wrong = {k: (v, stored.attributes.get(k)) for k, v in attributes.items() if stored.attributes.get(k) != v}
            if stored.type != type or wrong:
                raise FaultNotLive(f"toxic {fault.toxic} read back as {fault.read_back}, not as injected ({wrong})")
            yield fault
        finally:
            fault.rollback = self._remove(proxy, fault.toxic)

    def _remove(self, proxy: str, toxic: str) -> str:
        deadline = time.monotonic() + 15
        while True:
            try:
                self.admin.remove_toxic(proxy, toxic)
                return "removed"
            except NotFound:
                return "already gone"
            except ToxiproxyError as exc:   # a busy server: try again, bounded
                if time.monotonic() > deadline:
                    return f"FAILED: {exc}"
                time.sleep(0.5)

    @contextmanager
    def partition(self, logical: str, *, on_inject=None) -> Iterator[Fault]:
        """The proxy disabled (listener closed, its connections dropped); enabled on every exit path."""
        proxy = self.name(logical)
        fault = Fault("partition", proxy, logical)
        try:
            self.admin.disable(proxy)
        except BaseException as exc:
            fault.rollback = self._enable(proxy)   # as for a toxic: the disable may have happened
            if isinstance(exc, ToxiproxyError):
                raise FaultNotLive(f"could not disable proxy {proxy}: {exc}") from None
            raise
        try:
            if on_inject:
                on_inject(fault)
            info = self.admin.proxy(proxy)
            fault.read_back = {"name": info.name, "enabled": info.enabled, "listen": info.listen}
            if info.enabled:
                raise FaultNotLive(f"proxy {proxy} reads back enabled after it was disabled")
            yield fault
        finally:
            fault.rollback = self._enable(proxy)

    def _enable(self, proxy: str) -> str:
        deadline = time.monotonic() + 15
        while True:
            try:
                self.admin.enable(proxy)
                return "enabled"
            except NotFound:
                return "no such proxy"
            except ToxiproxyError as exc:
                if time.monotonic() > deadline:
                    return f"FAILED: {exc}"
                time.sleep(0.5)

    # --- start-up sweep ----------------------------------------------------------------------
    def sweep(self) -> list[SweepFinding]:
        """Remove every `cfc_` toxic and enable the configured proxies; say what was found."""
        found = [SweepFinding(leftover.proxy, "toxic", leftover.toxic.name,
                              f"{leftover.toxic.type} {leftover.toxic.stream} {leftover.toxic.attributes}")
                 for leftover in self.admin.sweep(SUITE_PREFIX)]
        proxies = self.admin.proxies()
        for proxy in self.names.values():
            if proxy in proxies and not proxies[proxy].enabled:
                self.admin.enable(proxy)
                found.append(SweepFinding(proxy, "disabled proxy", proxy, "enabled again"))
        return found
