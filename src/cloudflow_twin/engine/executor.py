"""Runs one execution: steps in order, retries with backoff, the workflow deadline.

The step sequence runs as a task; a supervisor checks the twin-time deadline every
DEADLINE_POLL_S (during steps and during backoff waits alike) and cancels the task on timeout.
"""
from __future__ import annotations

import asyncio
import time

from . import store
from .context import StepContext
from .errors import StepFailure
from .policy import effective_policy
from .state import ExecState, StepRec
from .steps import executor_for

DEADLINE_POLL_S = 0.1   # contract: deadlines checked at least every 200 ms


def _retry_lines(rt, step: str, k: int, retries: int, error: str, delay_ms: int) -> tuple[str, str]:
    if rt.fault("retry_log_wording"):
        return (f"step {step} failed ({error}), will try again ({k}/{retries})",
                f"backing off for {delay_ms / 1000:g}s")
    return f"retry attempt {k} of {retries} for step {step}: {error}", f"retrying in {delay_ms}ms"


async def run_step(rt, state: ExecState, step: StepRec) -> str | None:
    """Run a step with its retry policy. Returns None on success, else the execution's status."""
    policy = effective_policy(rt.retry_defaults(), state.retry_policy, step.definition, rt.fault)
    run = executor_for(step.definition.get("type"))
    attempt, delay_ms = 1, 0
    while True:
        started_real = time.time()
        step.attempts = attempt
        ctx = StepContext(rt, state, step, attempt)
        try:
            output = await run(ctx)
        except StepFailure as exc:
            failure = exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in an executor must fail the step, not the engine
            failure = StepFailure("INTERNAL_ERROR", f"InternalError: {type(exc).__name__}: {exc}")
        else:
            await store.save_attempt(rt, state, step, attempt, "SUCCESS", None, delay_ms, started_real)
            step.status, step.output, step.error = "SUCCESS", output, None
            step.duration_s = ctx.duration_override if ctx.duration_override is not None \
                else rt.now() - step.started_at
            return None
        failed_at = time.monotonic()
        step.error = failure.message
        await store.save_attempt(rt, state, step, attempt, "FAILED", failure.message, delay_ms,
                                 started_real)
        retryable = policy.retries(failure.code, any_error=rt.fault("retry_on_errors_ignored"))
        if not retryable or attempt > policy.max_attempts:
            step.status = "FAILED"
            step.duration_s = rt.now() - step.started_at
            rt.log.error(f"step {step.name} failed: {failure.message}", error_type=failure.error_type,
                         step=step.name, attempts=attempt, **state.ids)
            return "FAILED_AFTER_RETRIES" if retryable and policy.max_attempts > 0 else "FAILED"
        delay_ms = policy.delay_ms(attempt, linear=rt.fault("linear_backoff"))
        first, second = _retry_lines(rt, step.name, attempt, policy.max_attempts, failure.message,
                                     delay_ms)
        rt.log.warn(first, step=step.name, attempt=attempt, error_type=failure.error_type, **state.ids)
        rt.log.info(second, step=step.name, delay_ms=delay_ms, **state.ids)
        await store.save_step(rt, state, step)
        # backoff is REAL time, measured from the failure (the writes above do not stretch it)
        await asyncio.sleep(max(0.0, failed_at + delay_ms / 1000 - time.monotonic()))
        attempt += 1


async def run_steps(rt, state: ExecState) -> None:
    """The step sequence; sets state.status/error when it ends by itself."""
    for step in state.steps:
        step.status, step.started_at = "RUNNING", rt.now()
        await store.save_step(rt, state, step)
        rt.log.info(f"step {step.name} started", step=step.name, **state.ids)
        final = await run_step(rt, state, step)
        if final is not None:
            state.status, state.error = final, step.error
            state.skip_rest(step.position)
            return
        await store.save_step(rt, state, step)
    state.status = "SUCCESS"


async def supervise(rt, state: ExecState) -> None:
    """Run the steps under the workflow deadline (twin time)."""
    body = asyncio.create_task(run_steps(rt, state))
    try:
        while True:
            done, _ = await asyncio.wait({body}, timeout=DEADLINE_POLL_S)
            if done:
                body.result()
                return
            if not rt.fault("timeout_ignored") and rt.now() >= state.deadline:
                body.cancel()
                await asyncio.gather(body, return_exceptions=True)
                state.mark_timeout(rt.now(), rt.fault)
                if not rt.fault("timeout_not_logged"):
                    rt.log.error(state.error, error_type="WorkflowExecutionError",
                                 timeout_s=state.timeout_s, **state.ids)
                return
    finally:
        if not body.done():  # engine shutdown cancels us: take the step task with us
            body.cancel()
            await asyncio.gather(body, return_exceptions=True)


async def run_execution(rt, state: ExecState) -> None:
    rt.log.info("execution started", timeout_s=state.timeout_s, **state.ids)
    try:
        await supervise(rt, state)
    except Exception as exc:  # unexpected: never leave the execution RUNNING
        state.status, state.error = "FAILED", f"InternalError: {type(exc).__name__}: {exc}"
        rt.log.error(f"execution crashed: {state.error}", error_type="InternalError", **state.ids)
    state.finished_at = rt.now()
    chained, hooks = await store.finish(rt, state, chain=not rt.fault("trigger_ignored"))
    level = rt.log.info if state.status == "SUCCESS" else rt.log.warn
    level(f"execution finished with status {state.status}", status=state.status, **state.ids)
    for exec_id in chained:
        rt.log.info(f"workflow_completed trigger started execution {exec_id}",
                    triggered_execution_id=exec_id, **state.ids)
    if hooks and rt.webhook_queue is not None:
        from .webhooks import enqueue
        for hook in hooks:
            enqueue(rt, hook, state)
