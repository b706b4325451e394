"""Turn a target name into a resolved Target; for `local`, bring the twin's stack up first."""
from __future__ import annotations

import os
from pathlib import Path

import httpx

from .config import ConfigError, Credentials, Target, TargetConfig, find_targets_file, load_targets, \
    resolve_remote, select

LOCAL_CAPABILITIES = frozenset({"provisioning", "signing_key", "clock_control", "fault_switches",
                                "toxiproxy", "logs", "partner_control",
                                "webhook_receiver"})


def state_dir() -> Path:
    """Where the local stack lives: $CLOUDFLOW_STATE_DIR, else .state/ beside targets.yaml / cwd."""
    env = os.environ.get("CLOUDFLOW_STATE_DIR")
    if env:
        return Path(env).resolve()
    targets_file = find_targets_file()
    base = targets_file.parent if targets_file else Path.cwd()
    return (base / ".state").resolve()


def configured(name: str, targets_file: str | None = None) -> TargetConfig:
    return select(load_targets(find_targets_file(targets_file)), name)


def from_stack(name: str, cfg: TargetConfig, info: dict, folder: Path) -> Target:
    """A twin target from the stack's stack.json."""
    admins = [u for u in info["seed"]["users"] if "platform-admin" in u["roles"]]
    if not admins:
        raise ConfigError(f"the local stack in {folder} has no platform admin in its seed")
    return Target(
        name=name, kind="twin", base_url=info["api_url"], production=cfg.production,
        capabilities=LOCAL_CAPABILITIES | frozenset(cfg.capabilities), kube=cfg.kube,
        platform_admin=Credentials(admins[0]["email"], admins[0]["password"]),
        accounts={},
        signing_alg=info["signing_alg"], signing_key=info["signing_key"],
        control_url=info["api_url"], control_token=info["admin_token"],
        toxiproxy_url=info["toxiproxy_url"], proxies=dict(info["proxies_names"]),
        partner_control_url=info["partner_url"],  # PartnerControl adds the /_partner/ paths
        log_files=[Path(p) for p in info["log_files"]], log_source="files",
        state_dir=folder,
    )


def resolve(name: str, targets_file: str | None = None, *, start_local: bool = True,
            faults: tuple[str, ...] | None = None) -> tuple[Target, bool]:
    """(target, started) — started is True when this call brought the local stack up."""
    cfg = configured(name, targets_file)
    if cfg.kind == "remote":
        return resolve_remote(name, cfg), False
    from . import stack  # the local stack is only needed for twin targets

    folder = state_dir()
    if start_local:
        info, started = stack.ensure_up(folder, faults=faults)
    else:
        info, started = stack.read_info(folder), False
        if info is None:
            raise ConfigError(f"the local twin is not running (state dir {folder}); "
                              "start it with: cloudflow-checks twin up")
    return from_stack(name, cfg, info, folder), started


def check_reachable(target: Target, timeout: float = 5.0) -> None:
    """One clear line when the target cannot be reached (exit 2 in the CLI)."""
    url = f"{target.base_url}/health"
    try:
        httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ConfigError(f"target {target.name} unreachable: {url} ({type(exc).__name__})") from None
