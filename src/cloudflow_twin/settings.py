"""Twin configuration: environment variables plus the documented defaults, as one dataclass.

Every twin process calls `load()`; nothing else reads the environment. The documented values
(guide 3.2.1) are the twin's own defaults, kept here once (README "Documented settings").
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

VERSION = "3.2.1"

# tier -> per_minute, per_hour, concurrent workflows (None = unlimited). Guide "Rate Limit Tiers".
TIERS: dict[str, dict] = {
    "free": {"per_minute": 60, "per_hour": 1000, "concurrent_workflows": 5},
    "standard": {"per_minute": 1000, "per_hour": 50000, "concurrent_workflows": 50},
    "premium": {"per_minute": 5000, "per_hour": 250000, "concurrent_workflows": 200},
    # enterprise: per workspace custom_limits; these apply when a workspace gives none
    "enterprise": {"per_minute": 10000, "per_hour": 500000, "concurrent_workflows": None},
}


class ConfigError(Exception):
    """A required setting is missing or malformed (one clear line)."""


@dataclass(frozen=True)
class Settings:
    """Environment configuration plus documented defaults shared by api, engine and partner."""

    database_url: str | None = None
    partner_url: str | None = None
    state_dir: Path | None = None
    test_mode: bool = False
    admin_token: str | None = None
    faults_at_start: tuple[str, ...] = ()
    jwt_alg: str = "HS256"
    signing_key: str | None = None  # HS256 secret or RS256 private key PEM (content, not path)
    seed_file: Path | None = None

    # DB-01/02/03
    pool_max: int = 100
    pool_min: int = 10
    pool_max_idle_s: float = 300.0
    pool_max_lifetime_s: float = 1800.0
    pool_acquire_timeout_s: float = 5.0
    connect_timeout_s: int = 30
    slow_query_ms: float = 1000.0
    # AUTH-01/02/05
    access_ttl_s: int = 3600
    refresh_ttl_s: int = 30 * 24 * 3600
    leeway_s: int = 300
    # WF-01/04/07
    workflow_timeout_s: int = 3600
    retry_max_attempts: int = 3
    retry_initial_delay_ms: int = 1000
    retry_backoff_multiplier: float = 2.0
    retry_max_delay_ms: int = 60000
    retry_on_errors: tuple[str, ...] = ("NETWORK_ERROR", "TIMEOUT", "RATE_LIMIT", "EXTERNAL_API_ERROR")
    breaker_threshold: int = 5
    breaker_timeout_ms: int = 30000
    breaker_fallback: str = "use_cached_data"
    breaker_cache_ttl_s: int = 3600
    partner_timeout_s: float = 10.0
    # PERF-01/04, MEM-01/02
    workspace_cache_ttl_s: int = 3600
    request_cap_ms: int = 30000
    context_max_size_mb: int = 100
    context_cleanup_threshold: float = 0.8
    event_buffer_max: int = 10000
    event_overflow_strategy: str = "drop_oldest"
    # HEALTH-01
    heartbeat_interval_s: float = 0.5
    heartbeat_max_age_s: float = 5.0
    tiers: dict = field(default_factory=lambda: {k: dict(v) for k, v in TIERS.items()})

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def control_file(self) -> Path:
        return self.state_dir / "control.json"

    @property
    def heartbeat_file(self) -> Path:
        return self.state_dir / "engine.heartbeat"

    def require(self, *names: str) -> "Settings":
        """Raise ConfigError naming the first missing required setting; return self."""
        env_names = {"database_url": "TWIN_DATABASE_URL", "partner_url": "TWIN_PARTNER_URL",
                     "state_dir": "TWIN_STATE_DIR", "admin_token": "TWIN_ADMIN_TOKEN",
                     "signing_key": "TWIN_SIGNING_KEY"}
        for name in names:
            if not getattr(self, name):
                raise ConfigError(f"{env_names.get(name, name)} is required")
        return self

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)


def _signing_key(alg: str, raw: str | None) -> str | None:
    if raw is None or alg == "HS256":
        return raw
    path = Path(raw)
    if not path.is_file():
        raise ConfigError(f"TWIN_SIGNING_KEY must be a path to a PEM private key for {alg}: {raw}")
    return path.read_text()


def load(env: dict | None = None) -> Settings:
    """Read TWIN_* variables (README table) into a Settings; raises ConfigError on bad values."""
    env = os.environ if env is None else env
    alg = env.get("TWIN_JWT_ALG", "HS256").strip().upper()
    if alg not in ("HS256", "RS256"):
        raise ConfigError(f"TWIN_JWT_ALG must be HS256 or RS256, not {alg!r}")
    test_mode = env.get("TWIN_TEST_MODE", "0").strip() == "1"
    state_dir = env.get("TWIN_STATE_DIR")
    seed = env.get("TWIN_SEED_FILE")
    faults = tuple(f.strip() for f in env.get("TWIN_FAULTS", "").split(",") if f.strip())
    settings = Settings(
        database_url=env.get("TWIN_DATABASE_URL") or None,
        partner_url=(env.get("TWIN_PARTNER_URL") or "").rstrip("/") or None,
        state_dir=Path(state_dir) if state_dir else None,
        test_mode=test_mode,
        admin_token=env.get("TWIN_ADMIN_TOKEN") or None,
        faults_at_start=faults,
        jwt_alg=alg,
        signing_key=_signing_key(alg, env.get("TWIN_SIGNING_KEY") or None),
        seed_file=Path(seed) if seed else None,
    )
    if test_mode:
        settings.require("admin_token")
    return settings
