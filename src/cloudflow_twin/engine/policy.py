"""Retry policy (WF-04/05): which failures are retried, how often, after which delay."""
from __future__ import annotations

from dataclasses import dataclass



@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int          # retries after the first attempt
    initial_delay_ms: int
    backoff_multiplier: float
    max_delay_ms: int
    retry_on_errors: tuple[str, ...]
    enabled: bool = True

    def delay_ms(self, k: int, *, linear: bool = False) -> int:
        """Delay before retry k (k = 1..): min(initial * mult^(k-1), max)."""
        raw = self.initial_delay_ms * k if linear else (
            self.initial_delay_ms * self.backoff_multiplier ** (k - 1))
        return int(min(raw, self.max_delay_ms))

    def retries(self, code: str, *, any_error: bool = False) -> bool:
        return self.enabled and (any_error or code in self.retry_on_errors)


def effective_policy(defaults: dict, workflow_policy: dict | None, step: dict, fault) -> RetryPolicy:
    """Defaults, overridden by the workflow's policy, overridden by the step's own."""
    merged = dict(defaults)
    merged.update({k: v for k, v in (workflow_policy or {}).items() if v is not None})
    merged.update({k: v for k, v in (step.get("retry_policy") or {}).items() if v is not None})
    retries = int(merged["max_attempts"])
    if fault("retries_two") and retries == defaults["max_attempts"]:
        retries = 2  # breaks only the documented default (WF-04), custom counts stay honoured
    enabled = step.get("retry_enabled", True) is not False and not fault("no_retry")
    errors = merged["retry_on_errors"]
    if isinstance(errors, str):  # the CLI form "NETWORK_ERROR,TIMEOUT"
        errors = [e.strip() for e in errors.split(",") if e.strip()]
    return RetryPolicy(
        max_attempts=max(0, retries),
        initial_delay_ms=int(merged["initial_delay_ms"]),
        backoff_multiplier=float(merged["backoff_multiplier"]),
        max_delay_ms=int(merged["max_delay_ms"]),
        retry_on_errors=tuple(errors),
        enabled=enabled,
    )
