"""Engine-side fault switches: each breaks exactly one documented behaviour (ID in the table).

The API process serves `GET /_twin/faults`; it must import this module so that the engine's
switches are listed and accepted there. The engine reads them through `faults.is_on(name)`.
"""
from __future__ import annotations

ENGINE_FAULTS: dict[str, tuple[str, str]] = {
    "timeout_ignored": ("WF-01", "the workflow timeout is never enforced"),
    "timeout_wording": ("WF-01", "timeout error text differs from the documented wording"),
    "skipped_nonzero_duration": ("WF-02", "steps SKIPPED after a timeout report a non-zero duration"),
    "linear_backoff": ("WF-04", "retry delays grow linearly (initial * k) instead of exponentially"),
    "retries_two": ("WF-04", "the default retry count is 2 instead of 3"),
    "no_retry": ("WF-04", "failed steps are never retried"),
    "retry_on_errors_ignored": ("WF-05", "every error is retried, whatever retry_on_errors says"),
    "threshold_inclusive": ("WF-06", "validation with on_error continue fails at exactly the threshold"),
    "breaker_disabled": ("WF-07", "the circuit breaker never opens"),
    "no_fallback": ("WF-07", "fallback use_cached_data is never applied"),
    "trigger_ignored": ("WF-08", "workflow_completed triggers never start the downstream workflow"),
    "batch_size_ignored": ("WF-09", "transform steps ignore batch_size (fixed batches of 100)"),
    "context_unbounded": ("MEM-01", "workflow context is never cleaned up (grows past max_size_mb)"),
    "retry_log_wording": ("LOG-03", "retry log lines differ from the documented grep patterns"),
    "timeout_not_logged": ("LOG-03", "a workflow timeout leaves no log line (the guide's timeout grep finds nothing)"),
    "webhook_unsigned": ("RATE-05", "webhook deliveries carry no X-CloudFlow-Signature header"),
}


def register_all() -> None:
    """Register every engine switch with the shared registry (idempotent)."""
    from cloudflow_twin import faults

    for name, (behaviour, description) in ENGINE_FAULTS.items():
        faults.register(name, behaviour, description)


# at import: `cloudflow_twin.faults.load_all()` (the API's listing) imports this module
register_all()
