"""Target configuration: which CloudFlow to check and what it offers.

`targets.yaml` (validated with pydantic, so bad input gets one clear line) names targets; `local`
is the twin, resolved at run time from the stack the suite starts. Secrets are never in the file:
it names the environment variables that hold them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

CAPABILITIES = frozenset({
    "provisioning",     # create throwaway workspaces and users (needs a platform admin)
    "signing_key",      # forge tokens (skew, tampering)
    "clock_control",    # move the target's clock (token expiry, timeouts, hourly windows)
    "fault_switches",   # the twin's seeded faults (selftest)
    "toxiproxy",        # network faults in front of the database and the partner API
    "kubernetes",       # cluster checks and pod chaos
    "logs",             # read the target's logs
    "partner_control",  # make the partner API fail on demand
    "webhook_receiver", # the target can reach a receiver the suite runs on this machine
})
DEFAULT_TARGETS_FILE = "targets.yaml"


class ConfigError(Exception):
    """Bad configuration or usage: the CLI prints it on one line and exits 2."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountConfig(_Strict):
    username: str
    password_env: str


class TokensConfig(_Strict):
    access_env: str = "CF_ACCESS_TOKEN"
    refresh_env: str = "CF_REFRESH_TOKEN"


class ToxiproxyConfig(_Strict):
    url: str
    proxies: dict[str, str] = {"postgres": "postgres", "partner_api": "partner-api"}


class KubeConfig(_Strict):
    context: str | None = None
    kubeconfig: str | None = None
    namespace: str = "cloudflow"


class LogsConfig(_Strict):
    source: Literal["files", "kubernetes"] = "files"
    files: list[str] = []
    # source kubernetes: the Deployments whose pods' logs the LOG-* checks read
    deployments: list[str] = ["cloudflow-api", "cloudflow-workflow-engine"]


class SigningKeyConfig(_Strict):
    alg: Literal["HS256", "RS256"] = "HS256"
    key_env: str


class TargetConfig(_Strict):
    kind: Literal["twin", "remote"]
    base_url: str | None = None
    production: bool = False
    tokens: TokensConfig | None = None
    accounts: dict[str, AccountConfig] = {}
    platform_admin: AccountConfig | None = None
    toxiproxy: ToxiproxyConfig | None = None
    kube: KubeConfig | None = None
    logs: LogsConfig | None = None
    signing_key: SigningKeyConfig | None = None
    capabilities: list[str] = []


class TargetsFile(_Strict):
    targets: dict[str, TargetConfig]


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


@dataclass
class Target:
    """A target resolved for one run: URLs, secrets and capabilities in hand."""

    name: str
    kind: str
    base_url: str
    production: bool
    capabilities: frozenset[str]
    accounts: dict[str, Credentials] = field(default_factory=dict)
    platform_admin: Credentials | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    signing_alg: str | None = None
    signing_key: str | None = None
    control_url: str | None = None          # the twin's control API (clock, faults)
    control_token: str | None = None
    toxiproxy_url: str | None = None
    proxies: dict[str, str] = field(default_factory=dict)
    partner_control_url: str | None = None
    log_files: list[Path] = field(default_factory=list)
    log_source: str | None = None
    log_deployments: list[str] = field(default_factory=list)
    kube: KubeConfig | None = None
    state_dir: Path | None = None

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def secrets(self) -> list[str]:
        """Every secret value this target holds, for redaction in reports."""
        values = [self.access_token, self.refresh_token, self.signing_key, self.control_token]
        values += [c.password for c in self.accounts.values()]
        if self.platform_admin:
            values.append(self.platform_admin.password)
        return [v for v in values if v]


def find_targets_file(explicit: str | os.PathLike | None = None) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"targets file not found: {path}")
        return path
    env = os.environ.get("CLOUDFLOW_TARGETS")
    if env:
        return find_targets_file(env)
    for folder in (Path.cwd(), *Path.cwd().parents):
        candidate = folder / DEFAULT_TARGETS_FILE
        if candidate.is_file():
            return candidate
    return None


def load_targets(path: Path | None) -> dict[str, TargetConfig]:
    if path is None:
        return {"local": TargetConfig(kind="twin")}
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        parsed = TargetsFile.model_validate(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
    for name, target in parsed.targets.items():
        unknown = set(target.capabilities) - CAPABILITIES
        if unknown:
            raise ConfigError(f"{path}: target {name}: unknown capabilities {sorted(unknown)}; "
                              f"known: {sorted(CAPABILITIES)}")
        if target.kind == "remote" and not target.base_url:
            raise ConfigError(f"{path}: target {name}: a remote target needs base_url")
    return parsed.targets


def select(targets: dict[str, TargetConfig], name: str) -> TargetConfig:
    if name not in targets:
        raise ConfigError(f"unknown target {name!r}; valid targets: {', '.join(sorted(targets))}")
    return targets[name]


def _env(name: str, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"{what}: environment variable {name} is not set")
    return value


def resolve_remote(name: str, cfg: TargetConfig) -> Target:
    """A remote target: secrets from the environment, capabilities as declared."""
    accounts = {role: Credentials(a.username, _env(a.password_env, f"account {role}"))
                for role, a in cfg.accounts.items()}
    target = Target(
        name=name, kind="remote", base_url=cfg.base_url.rstrip("/"), production=cfg.production,
        capabilities=frozenset(cfg.capabilities), accounts=accounts, kube=cfg.kube,
    )
    if cfg.platform_admin:
        target.platform_admin = Credentials(cfg.platform_admin.username,
                                            _env(cfg.platform_admin.password_env, "platform_admin"))
    if cfg.tokens:
        target.access_token = os.environ.get(cfg.tokens.access_env)
        target.refresh_token = os.environ.get(cfg.tokens.refresh_env)
    if cfg.signing_key:
        target.signing_alg = cfg.signing_key.alg
        target.signing_key = _env(cfg.signing_key.key_env, "signing_key")
    if cfg.toxiproxy:
        target.toxiproxy_url = cfg.toxiproxy.url.rstrip("/")
        target.proxies = dict(cfg.toxiproxy.proxies)
    if cfg.logs:
        target.log_source = cfg.logs.source
        target.log_files = [Path(f) for f in cfg.logs.files]
        target.log_deployments = list(cfg.logs.deployments)
    return target
