"""Database partition (DB-03, HEALTH-01): the proxy disabled, then a `timeout` toxic; a history of
workflow submissions is checked afterwards (Jepsen style).

Guide: Database Connection Issues > Connection Timeout Errors; Overview > Quick Diagnostic Checklist.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from .. import history as hist
from ..runner import Experiment, Run

MAX_SUBMISSIONS = 90


class DatabasePartition(Experiment):
    name = "db-partition"
    title = "Database partition: proxy disabled, then a timeout toxic; no acknowledged submission lost"
    behaviours = ("DB-03", "HEALTH-01")
    bounds_from = "DB-03"

    def detects(self, sample) -> bool:
        return sample.series in ("steady", "health") and sample.status == 503

    def method(self, run: Run) -> None:
        """a writer submits executions of a one-step workflow all along, recording every operation
        phase 1: the postgres proxy disabled (partition); /health names the database down; the API answers 503 with the documented wording, never 500
        heal; the service recovers by itself (no restart)
        phase 2: a timeout toxic on postgres (data stops, connections closed after the timeout); the same judgements
        heal; the service recovers by itself"""
        wf = run.ctx.admin.create_workflow({"name": "chaos-partition", "steps": [{"name": "noop", "type": "noop"}],
                                            "timeout": int(run.tol("history_timeout_s"))})
        run.require(wf.status_code == 201, f"could not create the workflow: {wf.status_code} {wf.text[:200]}")
        run.workflow_id = wf.json()["id"]
        stop = threading.Event()
        writer = threading.Thread(target=_submit_loop, args=(run, run.workflow_id, stop), daemon=True)
        writer.start()
        try:
            run.sleep(1.0)  # acknowledged submissions before the fault, too
            with run.partition("postgres") as fault:
                run.prove(run.ctx.proxies.admin.proxy(fault.proxy).enabled is False,
                          f"proxy {fault.proxy} reads back disabled")
                run.prove_fresh_round_trip("postgres", expect="refused|reset|closed", timeout_s=2.0)
                _observe_outage(run, "partition")
            run.measure_recovery(label="time_to_recover[partition]")
            with run.toxic("postgres", "timeout", {"timeout": int(run.tol("timeout_toxic_ms"))}):
                run.prove_fresh_round_trip("postgres", expect="closed|reset|timeout",
                                           timeout_s=run.tol("timeout_toxic_ms") / 1000 + 2)
                _observe_outage(run, "timeout toxic")
            run.wait_recovered()
            run.sleep(1.5)  # acknowledged submissions after the heal, too
        finally:
            stop.set()
            writer.join(timeout=15)

    def verify(self, run: Run) -> None:
        partition, timeout_toxic = run.faults[0], run.faults[-1]
        run.measure_detection(partition, label="time_to_detect[partition]")
        run.measure_detection(timeout_toxic, label="time_to_detect[timeout toxic]")
        run.measure_recovery(timeout_toxic, label="time_to_recover[timeout toxic]")
        _check_history(run)


def _observe_outage(run: Run, label: str) -> None:
    """During the fault: /health 503 naming the database; API 503 with a documented message, not 500."""
    health_values, db03 = run.spec["HEALTH-01"], run.spec["DB-03"]
    hold_s = float(run.tol("fault_hold_s"))
    detect_s = float(run.tol("detect_s"))

    def health_down():
        response, sample = run.call("health", run.ctx.api.health)
        body = response.json() if response is not None and response.headers.get("content-type", "").startswith("application/json") else {}
        return sample, (body.get("dependencies") or {}).get("database", {})

    seen, (sample, database) = run.poll(health_down, lambda got: got[0].status == health_values["status_unhealthy"]
                                        and got[1].get("status") == "down", timeout_s=detect_s)
    run.expect(seen, f"{label}: /health did not answer {health_values['status_unhealthy']} naming the database "
                     f"down within {detect_s} s; last {sample.status}, database {database} (HEALTH-01)")
    if seen:
        run.expect(database.get("error") in db03["messages"],
                   f"{label}: /health names the database down but not with a documented message: {database}")
    # reads at once (each may wait out the acquire timeout), then watch /health for the rest of the hold
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = [f.result()[1] for f in [pool.submit(run.call, "api-during-fault", run.ctx.admin.list_workflows)
                                           for _ in range(3)]]
    run.sleep(max(0.0, hold_s - (run.now() - sample.t)))
    five_hundreds = [s for s in answers if s.status == 500]
    run.expect(not five_hundreds, f"{label}: the API answered 500 instead of {db03['status']} "
                                  f"{len(five_hundreds)} of {len(answers)} times: {five_hundreds[0].message if five_hundreds else ''}")
    refused = [s for s in answers if s.status == db03["status"]]
    run.expect(refused, f"{label}: no API answer was {db03['status']} while the database was cut off "
                        f"(statuses {[s.status for s in answers]})")
    undocumented = [s for s in refused if not any(s.message.startswith(m) for m in db03["messages"])]
    run.expect(not undocumented, f"{label}: 503 without a documented message {db03['messages']}: "
                                 f"{undocumented[0].message if undocumented else ''}")
    run.journal.invariants.append({"name": f"{label}: answers during the fault", "ok": not five_hundreds and bool(refused),
                                   "detail": {str(k): sum(1 for s in answers if s.status == k)
                                              for k in {s.status for s in answers}}})


def _submit_loop(run: Run, workflow_id: str, stop: threading.Event) -> None:
    """The writer: one submission every 0.3 s, each recorded as invoked and completed; at most
    MAX_SUBMISSIONS, so that the target's execution list (100 a page) holds them all."""
    client = run.ctx.client(timeout_s=float(run.tol("submit_timeout_s")), connections=2)
    try:
        for _ in range(MAX_SUBMISSIONS):
            if stop.is_set():
                return
            op = run.history.invoke("writer", "submit", workflow_id)
            try:
                response = client.execute(workflow_id)
            except Exception as exc:  # no answer: it may or may not have happened
                run.history.complete(op, "info", error=f"{type(exc).__name__}: {exc}")
            else:
                if response.status_code == 202:
                    run.history.complete(op, "ok", status=202, result=response.json().get("execution_id"))
                else:
                    run.history.complete(op, "fail", status=response.status_code, error=response.text[:200])
            stop.wait(0.3)
    finally:
        client.close()


def _check_history(run: Run) -> None:
    """After the heal: every acknowledged submission is there and finished; nothing is unexplained."""
    h = run.history
    acked = [o.result for o in h.of("submit", "ok")]
    run.require(h.of("submit", "ok"), "the writer got no acknowledged submission at all: nothing to check")
    run.expect(any(o.type == "fail" for o in h.of("submit")),
               "no submission was refused during the partition: the fault did not reach the writer")
    finals: dict[str, dict] = {}
    wait_s = float(run.tol("history_timeout_s"))

    def fetch_all():
        for exec_id in acked:
            if finals.get(exec_id, {}).get("status") in ("SUCCESS", "FAILED", "FAILED_AFTER_RETRIES", "TIMEOUT"):
                continue
            response = run.ctx.admin.execution(exec_id)
            finals[exec_id] = response.json() if response.status_code == 200 else {"status": None, "http": response.status_code}
        return finals

    run.poll(fetch_all, lambda got: all(b.get("status") not in ("RUNNING", "PENDING", None) for b in got.values()),
             timeout_s=wait_s, interval_s=0.5)
    invariants = [
        hist.nothing_pending(h),
        hist.no_acknowledged_write_lost(h, "submit", lambda i: i if finals.get(i, {}).get("status") else None),
        hist.no_stuck_execution(finals, wait_s),
    ]
    listed = run.ctx.admin.executions(workflow_id=run.workflow_id)
    if listed.status_code == 200:
        body = listed.json()
        items = body.get("executions", body) if isinstance(body, dict) else body
        observed = {e.get("id") or e.get("execution_id") for e in items}
        invariants.append(hist.accounted_for(h, "submit", observed))
    else:
        run.deviation(f"could not list the workflow's executions after the heal: {listed.status_code}")
    for inv in invariants:
        run.journal.invariants.append(inv.to_json())
        run.expect(inv.ok, f"history: {inv.name} violated: {inv.detail}; e.g. {inv.counterexamples[:3]}")
