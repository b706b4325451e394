"""The start-up sweep: put back what a killed chaos run left on the target, and say what it found.

It runs before anything logs in or provisions through the target's API (a leftover partition makes
the API answer 503), and the caller holds the target exclusively (`TargetLock.exclusive()`): then
no check is running, so a partner-stub mode or a clock offset can only be a leftover of a run that
was killed, and putting it back takes nothing from anybody. The twin's fault switches are left
alone: experiments never set them (a self-test does).
"""
from __future__ import annotations

import time

import httpx

from ..client import CloudFlowClient, PartnerControl, TwinControl
from ..config import Target
from ..spec import Spec
from .faults import ChaosProxies

PARTNER_HEALTHY = {"status": 200, "delay_ms": 0}


def sweep_target(target: Target, spec: Spec) -> list[str]:
    """Remove `cfc_` toxics, enable disabled proxies, reset the partner stub's mode and the twin's
    clock offset; one line per leftover found (and put back). When something was found, wait (within
    the DB-03 recovery bound) until /health names the database up again: a login right after a
    healed partition meets the pool's dead connections."""
    found = [str(f) for f in ChaosProxies(target.toxiproxy_url, target.proxies).sweep()] if target.toxiproxy_url else []
    if target.has("partner_control") and target.partner_control_url:
        found += _partner(target.partner_control_url)
    if target.has("clock_control") and target.control_url and target.control_token:
        found += _clock(TwinControl(target.control_url, target.control_token))
    if found:
        _wait_ready(target, float(spec["DB-03"].tolerance("recover_s")))
    return found


def _wait_ready(target: Target, bound_s: float) -> None:
    """Poll, at most bound_s, until /health names the database up and (when the target has one)
    the platform admin's login answers 200: /health opens a connection of its own, a login takes
    one from the pool, which still holds connections the partition killed. After the bound the
    caller's own login says what is wrong."""
    deadline = time.monotonic() + bound_s
    api = CloudFlowClient(target.base_url, http=httpx.Client(base_url=target.base_url.rstrip("/"), timeout=5.0))
    try:
        while time.monotonic() < deadline:
            try:
                response = api.health()
                database = ((response.json() or {}).get("dependencies") or {}).get("database") or {}
                ready = response.status_code == 200 and database.get("status") == "up"
                if ready and target.platform_admin is not None:
                    ready = api.login(target.platform_admin.username, target.platform_admin.password).status_code == 200
                if ready:
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)
    finally:
        api.close()


def _partner(url: str) -> list[str]:
    partner = PartnerControl(url)
    try:
        response = httpx.get(f"{url.rstrip('/')}/_partner/mode", timeout=10.0)  # PartnerControl cannot read it
        response.raise_for_status()
        mode = {k: response.json().get(k) for k in PARTNER_HEALTHY}
        if mode == PARTNER_HEALTHY:
            return []
        partner.set_mode(200)
        return [f"partner stub mode {mode['status']} (delay {mode['delay_ms']} ms) (set back to 200)"]
    except httpx.HTTPError as exc:
        return [f"partner stub mode could not be read or reset: {type(exc).__name__}: {exc}"]
    finally:
        partner.close()


def _clock(control: TwinControl) -> list[str]:
    try:
        offset = control.offset()
        if offset == 0:
            return []
        control.set_offset(0)
        return [f"twin clock offset {offset:+.1f} s (set back to 0)"]
    except httpx.HTTPError as exc:
        return [f"twin clock offset could not be read or reset: {type(exc).__name__}: {exc}"]
    finally:
        control.close()
