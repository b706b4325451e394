"""Failing partner API (WF-07): timeouts (Toxiproxy `timeout` toxic on partner-api) and 502s (the
stub); the breaker opens after 5 failures (the stub counts that no further call reaches it),
half-opens after 30000 ms (clock control), and the use_cached_data fallback is served meanwhile.

Guide: Workflow Execution Failures > Workflow Step Failures > External API Failures.
"""
from __future__ import annotations

from ... import waits
from ..runner import Experiment, Run

STEP = "external_api_call"


class FailingPartnerApi(Experiment):
    name = "partner-api"
    title = "Failing partner API: breaker opens after 5, fallback served, half-opens after 30000 ms"
    behaviours = ("WF-07",)
    requires = ("toxiproxy", "provisioning", "partner_control", "clock_control")
    proxies = ("partner_api",)
    bounds_from = "WF-07"

    def hypothesis_text(self) -> list[str]:
        return super().hypothesis_text() + ["the partner answers 200 and a run of the workflow succeeds (fills the cache)"]

    def steady_state(self, run: Run) -> None:
        super().steady_state(run)
        values = run.spec["WF-07"]
        step = {"name": STEP, "type": "external_api", "path": "/v1/data", "retry_enabled": False,
                "circuit_breaker": {"enabled": True, "threshold": values["breaker_threshold"],
                                    "timeout_ms": values["breaker_timeout_ms"]},
                "fallback": {"action": values["fallback_action"], "cache_ttl": values["cache_ttl_s"]}}
        with run.activity("a run against the healthy partner succeeds (fills the fallback cache)") as act:
            run.ctx.partner.set_mode(200)
            wf = run.ctx.admin.create_workflow({"name": "chaos-partner", "steps": [step]})
            run.require(wf.status_code == 201, f"could not create the workflow: {wf.status_code} {wf.text[:200]}")
            run.workflow_id = wf.json()["id"]
            body = _run_once(run)
            act.output = {"status": body["status"]}
            run.require(body["status"] == "SUCCESS", f"steady state not met: a run against the healthy partner "
                                                     f"ended {body['status']}: {body.get('error')}")

    def detects(self, sample) -> bool:
        return sample.series == "breaker" and sample.message == "open"

    def method(self, run: Run) -> None:
        """timeout toxic on partner-api (no data comes back): a run fails the call, the cached data is served
        the partner stub answers 502: runs until the breaker threshold is reached, each served from the cache
        the breaker is open: further runs make no call (the stub's count stays), still served from the cache
        clock advanced to just before the breaker timeout: still no call; the partner heals (200)
        clock advanced past the breaker timeout: exactly one trial call, the run succeeds, the breaker closes"""
        values = run.spec["WF-07"]
        threshold, fallback = values["breaker_threshold"], values["fallback_action"]
        partner = run.ctx.partner
        partner.reset_calls()
        with run.toxic("partner_api", "timeout", {"timeout": 0}, impacts_steady=False):
            run.prove_fresh_round_trip("partner_api", expect="timeout|closed", timeout_s=2.0)  # no byte comes back
            body = _run_once(run, timeout_s=float(run.tol("detect_s")))
            _expect_fallback(run, body, fallback, "a timed-out partner call")
            run.journal.invariants.append({"name": "the call through the timeout toxic failed", "ok": True,
                                           "detail": (_step(body).get("output") or {}).get("error") or _step(body).get("error")})
        failures = 1
        with run.stub_fault("partner stub answers 502", lambda: partner.set_mode(values["failure_status"]),
                            lambda: partner.set_mode(200)):
            while failures < threshold:
                _expect_fallback(run, _run_once(run), fallback, f"failure {failures + 1}")
                failures += 1
            calls = partner.calls()
            run.expect(calls == threshold, f"{calls} calls reached the partner for {threshold} failures (each "
                                           f"failure before the breaker opens must reach it)")
            states = _breaker(run)
            run.require(states == ["open"], f"after {threshold} consecutive failures the breaker is {states}, "
                                            f"not open (WF-07 --circuit-breaker-threshold {threshold})")
            for i in range(2):
                _expect_fallback(run, _run_once(run), fallback, f"run {i + 1} with the breaker open")
            run.expect(partner.calls() == calls, f"{partner.calls() - calls} calls reached the partner while the "
                                                 f"breaker was open")
            clock = run.ctx.clock()
            clock.advance(values["breaker_timeout_ms"] / 1000 - float(run.tol("half_open_margin_s")))
            _run_once(run)
            run.expect(partner.calls() == calls, "the breaker let a call through before its timeout of "
                                                 f"{values['breaker_timeout_ms']} ms")
        clock.advance(2 * float(run.tol("half_open_margin_s")))
        body = _run_once(run)
        trial_calls = partner.calls() - calls
        run.expect(trial_calls == 1, f"after the breaker timeout {trial_calls} calls reached the partner; "
                                     f"half-open allows exactly one trial call")
        run.expect(body["status"] == "SUCCESS" and not (_step(body).get("output") or {}).get("fallback"),
                   f"the trial call after the heal did not succeed on live data: {_step(body)}")
        run.require(_breaker(run) == ["closed"], f"the breaker did not close after a successful trial: {_breaker(run)}")

    def verify(self, run: Run) -> None:
        run.measure_detection(run.faults[0])
        closed = next((s for s in run.recorder.samples("breaker") if s.message == "closed" and s.t >= run.faults[-1].healed_at), None)
        run.measure("time_to_recover", None if closed is None else round(closed.t - run.faults[-1].healed_at, 3),
                    float(run.tol("recover_s")), source="WF-07 tolerances.recover_s",
                    what="the breaker never closed after the heal")


def _run_once(run: Run, timeout_s: float | None = None) -> dict:
    response = run.ctx.admin.execute(run.workflow_id)
    run.require(response.status_code == 202, f"could not execute: {response.status_code} {response.text[:200]}")
    exec_id = response.json()["execution_id"]
    _, sample = run.call("workflow-run", lambda: run.ctx.admin.execution(exec_id))
    body = waits.execution(run.ctx.admin, exec_id, timeout_s=timeout_s or float(run.spec.suite["execution_wait_s"]))
    _breaker(run)
    return body


def _step(body: dict) -> dict:
    return next((s for s in body.get("steps", []) if s.get("name") == STEP), {})


def _breaker(run: Run) -> list[str]:
    response, _ = run.call("breaker-read", lambda: run.ctx.admin.circuit_breakers(run.workflow_id))
    states = [b.get("state") for b in response.json()] if response is not None and response.status_code == 200 else []
    from ..probes import Sample
    run.recorder.add(Sample("breaker", run.now(), 0.0, 200, True, ",".join(states)))
    return states


def _expect_fallback(run: Run, body: dict, fallback: str, what: str) -> None:
    output = _step(body).get("output") or {}
    run.expect(body["status"] == "SUCCESS" and output.get("fallback") == fallback,
               f"{what}: the cached data was not served (fallback {fallback}): execution {body['status']}, "
               f"step {_step(body).get('status')} {_step(body).get('error')}")
