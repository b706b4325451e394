"""Connection resets (WF-04, LOG-03): a `reset_peer` toxic on postgres while a step's query runs;
the step is retried per the documented policy, logged in the documented wording, and succeeds
after the heal.

Guide: Workflow Execution Failures > Retry Logic and Exponential Backoff; Log Analysis & Debugging
> Grep Patterns for Common Issues.
"""
from __future__ import annotations

import re

from ... import waits
from ..runner import Experiment, Run

STEP = "query"


class ConnectionResets(Experiment):
    name = "connection-resets"
    title = "Connection resets under a running step: retried per policy, logged, succeeds after the heal"
    behaviours = ("WF-04", "LOG-03")
    requires = ("toxiproxy", "provisioning", "logs")
    bounds_from = "WF-04"

    def method(self, run: Run) -> None:
        """a workflow whose one step runs a query that takes a few seconds, default retry policy
        while the step's query runs on its pooled connection: reset_peer toxic on postgres
        prove it live: fresh connections are reset (counted), a pooled API read is refused
        wait until the engine saw the reset (its log), then heal"""
        seconds = float(run.tol("query_s"))
        wf = run.ctx.admin.create_workflow({"name": "chaos-resets", "steps": [
            {"name": STEP, "type": "db_query", "sql": f"select pg_sleep({seconds}), 1 as ok"}]})
        run.require(wf.status_code == 201, f"could not create the workflow: {wf.status_code} {wf.text[:200]}")
        started = run.ctx.admin.execute(wf.json()["id"])
        run.require(started.status_code == 202, f"could not execute: {started.status_code} {started.text[:200]}")
        run.execution_id = exec_id = started.json()["execution_id"]
        logs = run.ctx.logs()
        ok, body = run.poll(lambda: run.ctx.admin.execution(exec_id).json(),
                            lambda b: any(s.get("name") == STEP and s.get("status") == "RUNNING" for s in b.get("steps", [])),
                            timeout_s=10, interval_s=0.1)
        run.require(ok, f"the step never started running: {body}")
        with run.toxic("postgres", "reset_peer", {"timeout": 0}):
            trips = run.prove_fresh_round_trip("postgres", expect="reset|closed", tries=3, timeout_s=2.0)
            run.journal.invariants.append({"name": "resets counted on fresh connections", "ok": True,
                                           "detail": f"{sum(1 for t in trips if t['outcome'] in ('reset', 'closed'))} of {len(trips)}"})
            _, pooled = run.call("pooled", run.ctx.admin.list_workflows)
            run.prove(pooled.status == 503, "a pooled connection opened before the fault is reset too (API read refused)",
                      {"status": pooled.status, "message": pooled.message})
            seen = _wait_log(run, logs, lambda line: exec_id in line.raw and "unreachable" in line.raw,
                             timeout_s=seconds + float(run.tol("detect_s")))
            run.require(seen, f"the engine never reported the reset of step {STEP} of {exec_id} in its log "
                              f"within {seconds + run.tol('detect_s')} s")
            run.engine_saw_reset_at = run.now()
        run.logs = logs

    def detects(self, sample) -> bool:
        return sample.series == "steady" and sample.status == 503

    def verify(self, run: Run) -> None:
        wf04 = run.spec["WF-04"]
        run.measure_detection()
        run.measure_recovery()
        exec_id = run.execution_id
        try:
            body = waits.execution(run.ctx.admin, exec_id, timeout_s=float(run.tol("recover_s")) + float(run.tol("query_s")) * 2)
        except AssertionError as exc:
            run.require(False, f"execution {exec_id} did not finish after the heal: {exc}")
        retries = run.ctx.admin.execution_retries(exec_id).json()
        attempts = [a for a in retries.get("attempts", []) if a.get("step") == STEP]
        run.journal.invariants.append({"name": "retry history", "ok": body["status"] == "SUCCESS", "detail": attempts})
        run.require(body["status"] == "SUCCESS",
                    f"step {STEP} was not retried to success after the reset: execution {body['status']} after "
                    f"{len(attempts)} attempt(s) ({body.get('error')}); WF-04 expects up to {wf04['max_retries']} "
                    f"retries with delays {wf04['delays_ms'][1:]} ms")
        run.expect(len(attempts) >= 2 and attempts[0].get("status") == "FAILED",
                   f"the reset did not fail an attempt (attempts: {attempts}): the fault never reached the step")
        tol = wf04.tolerance("delay_ms")
        for k, attempt in enumerate(attempts[1:], start=1):
            expected = wf04["delays_ms"][min(k, len(wf04["delays_ms"]) - 1)]
            run.expect(attempt.get("delay_ms") == expected,
                       f"attempt {k + 1} waited {attempt.get('delay_ms')} ms, documented {expected} ms (WF-04)")
            gap_ms = (attempt["started_at"] - attempts[k - 1]["started_at"]) * 1000
            run.expect(gap_ms >= expected - tol, f"attempt {k + 1} started {gap_ms:.0f} ms after attempt {k}, "
                                                 f"sooner than the documented {expected} ms")
        pattern = re.compile(run.spec["LOG-03"]["patterns"]["retry"])
        first = f"retry attempt 1 of {wf04['max_retries']} for step {STEP}"
        lines = _wait_log(run, run.logs, lambda line: exec_id in line.raw and first in line.raw,
                          timeout_s=float(run.spec["LOG-03"].tolerance("log_flush_s")))
        run.expect(bool(lines), f"no log line '{first}: ...' for {exec_id} (LOG-03 grep pattern "
                                f"{pattern.pattern!r}); the retry is not logged in the documented wording")
        delay_line = f"retrying in {wf04['delays_ms'][1]}ms"
        run.expect(bool(_wait_log(run, run.logs, lambda line: exec_id in line.raw and delay_line in line.raw, timeout_s=1)),
                   f"no log line '{delay_line}' for {exec_id} (LOG-03)")


def _wait_log(run: Run, logs, predicate, *, timeout_s: float):
    ok, found = run.poll(lambda: [line for line in logs.lines() if predicate(line)], bool, timeout_s=timeout_s,
                         interval_s=0.2)
    return found if ok else []
