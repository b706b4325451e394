"""Data steps: validate (WF-06), transform (WF-09), context_grow (MEM-01)."""
from __future__ import annotations

import math
from fractions import Fraction

from .context import StepContext
from .errors import StepFailure

DEFAULT_ERROR_THRESHOLD = 5
MAX_CHECKPOINTS = 1000      # a tiny interval must not flood the step row
MAX_GROW_STEPS = 10000
IGNORED_BATCH_SIZE = 100    # what batch_size_ignored falls back to


def _percent(value) -> Fraction:
    """5, 5.0, "5" and "5%" all mean five percent; Fraction keeps 5.0 % exactly comparable."""
    return Fraction(str(value).strip().rstrip("%").strip())


async def run_validate(ctx: StepContext) -> dict:
    records = ctx.spec.get("records") or {}
    count = int(records.get("count", 0))
    missing = {k: int(v) for k, v in (records.get("missing") or {}).items()}
    required = ctx.spec.get("required_fields") or list(missing)
    problems = [(name, missing[name]) for name in required if missing.get(name, 0) > 0]
    invalid = min(count, sum(n for _, n in problems))
    errors = [f"Field '{name}' is required but missing in {n} records" for name, n in problems]
    threshold = _percent(ctx.spec.get("error_threshold", DEFAULT_ERROR_THRESHOLD))
    on_error = str(ctx.spec.get("on_error", "fail"))
    output = {
        "records": count, "invalid": invalid, "valid": count - invalid,
        "invalid_pct": round(100 * invalid / count, 4) if count else 0.0,
        "errors": errors, "on_error": on_error, "error_threshold": float(threshold),
    }
    if not problems:
        return output
    message = "ValidationError: " + "; ".join(errors)
    if on_error != "continue":
        raise StepFailure("VALIDATION_ERROR", message)
    share = Fraction(invalid * 100, count) if count else Fraction(0)
    # documented: fail only if MORE than threshold percent is invalid (exactly 5 % passes)
    over = share >= threshold if ctx.rt.fault("threshold_inclusive") else share > threshold
    if over:
        raise StepFailure("VALIDATION_ERROR", message)
    return output


async def run_transform(ctx: StepContext) -> dict:
    spec = ctx.spec
    records = max(0, int(spec.get("records", 0)))
    workers = max(1, int(spec.get("parallel_workers", 1)))
    batch_size = max(1, int(spec.get("batch_size") or records or 1))
    if ctx.rt.fault("batch_size_ignored"):
        batch_size = IGNORED_BATCH_SIZE
    batches = math.ceil(records / batch_size)
    workers_used = min(workers, batches)
    # the work is `seconds` for one worker; parallel workers share it
    seconds = float(spec.get("seconds", 0)) / max(1, workers_used)
    ckpt = spec.get("checkpointing") or {}
    interval = float(ckpt.get("interval_s", 300))
    checkpointing = bool(ckpt.get("enabled")) and interval > 0
    output = {
        "records": records, "batch_size": batch_size, "batches": batches,
        "parallel_workers": workers, "workers_used": workers_used, "seconds": seconds,
        "checkpointing": checkpointing, "checkpoint_interval_s": interval if checkpointing else None,
        "checkpoints": [],
    }

    async def on_progress(elapsed: float) -> None:
        cps = output["checkpoints"]
        added = False
        while checkpointing and len(cps) < MAX_CHECKPOINTS:
            at = (len(cps) + 1) * interval
            if at > elapsed or at >= seconds:
                break
            cps.append({"at_s": at, "batches_done": math.floor(batches * at / seconds)})
            added = True
        if added:  # persisted, so a timeout mid-step still shows how far it got
            await ctx.report(output)

    await ctx.twin_sleep(seconds, on_progress)
    ctx.duration_override = seconds
    output["batches_done"] = batches
    return output


async def run_context_grow(ctx: StepContext) -> dict:
    mb = float(ctx.spec.get("mb_per_step", 10))
    steps = max(0, min(int(ctx.spec.get("steps", 1)), MAX_GROW_STEPS))
    unbounded = ctx.rt.fault("context_unbounded")
    max_mb = ctx.rt.settings.context_max_size_mb
    cleanup_at = ctx.rt.settings.context_cleanup_threshold
    # sizes are accounted, not allocated: the output is what the suite observes, and a real
    # 100 MB per execution would starve the shared machine
    size, cleanups, persisted = ctx.state.context_mb, 0, 0.0
    peak = size
    for _ in range(steps):
        if not unbounded:
            if mb > max_mb:
                raise StepFailure("CONTEXT_LIMIT", f"ContextSizeError: context entry of {mb:g} MB "
                                  f"exceeds workflow.context.max_size_mb {max_mb}")
            if size + mb > cleanup_at * max_mb:
                persisted += size   # cleanup: older context goes to disk
                size, cleanups = 0.0, cleanups + 1
        size += mb
        peak = max(peak, size)
    ctx.state.context_mb = size
    return {"peak_mb": peak, "final_mb": size, "cleanups": cleanups, "persisted_mb": persisted,
            "max_size_mb": max_mb, "cleanup_threshold": cleanup_at}
