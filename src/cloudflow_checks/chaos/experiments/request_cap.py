"""Request cut at 30000 ms (PERF-01): with every database round trip slower than the cap, requests
are answered 504 with the documented message at the cap, not left running.

Guide: Performance Problems > Slow Query Performance > Symptoms.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ... import waits
from ..runner import Experiment, Run
from .db_pool import _pool


class RequestCap(Experiment):
    name = "request-cap"
    title = "Request cut at 30000 ms with the documented message"
    behaviours = ("PERF-01",)
    bounds_from = "PERF-01"

    def detects(self, sample) -> bool:
        return sample.series == "capped" and sample.status == 504

    def method(self, run: Run) -> None:
        """latency toxic on postgres longer than the request cap (+ tolerance)
        prove it live: a fresh round trip gets no answer within seconds
        several database-backed reads at once, on pooled connections opened before the fault
        each is answered 504 'Request exceeded maximum duration of 30000ms' between the cap and the cap + tolerance"""
        values = run.spec["PERF-01"]
        cap_ms, cut_ms = values["max_duration_ms"], run.tol("cut_ms")
        latency = cap_ms + cut_ms
        requests = int(run.tol("capped_requests"))
        # Every capped read needs a pooled connection already open: one opened through the toxic
        # takes longer than the acquire timeout (503 at 5 s, not the cap). Slow queries of an earlier
        # fault may still hold some; the steady probes (10 s timeout) pile up a few more meanwhile.
        need = requests + 4
        with run.activity(f"the pool is quiet: nobody waiting, {need} idle connections") as act:
            try:
                act.output = waits.poll(lambda: _pool(run), lambda p: p.get("waiting") == 0 and p.get("idle", 0) >= need,
                                        timeout_s=40, interval_s=0.5, what=f"a quiet pool with {need} idle connections")
            except waits.WaitTimeout as exc:
                run.require(False, f"steady state not met before the fault: {exc}; no fault was injected")
        client = run.ctx.client(timeout_s=(latency + cut_ms) / 1000 + 2, connections=requests + 2)
        try:
            with run.toxic("postgres", "latency", {"latency": latency, "jitter": 0}):
                run.prove_fresh_round_trip("postgres", expect="slow", slower_than_ms=2700, timeout_s=3.0)
                with ThreadPoolExecutor(max_workers=requests) as pool:
                    futures = [pool.submit(run.call, "capped", client.list_workflows) for _ in range(requests)]
                    samples = [f.result()[1] for f in futures]
        finally:
            client.close()
        run.journal.invariants.append({"name": "answers at the cap", "ok": True,
                                       "detail": [{"status": s.status, "ms": s.ms, "message": s.message} for s in samples]})
        fast = [s for s in samples if s.status is not None and s.ms < 0.9 * cap_ms]
        run.prove(not fast, "every capped read really waited on the slowed database (none answered early)",
                  [{"status": s.status, "ms": s.ms} for s in fast])
        for s in samples:
            if s.status != 504:
                run.deviation(f"a request running past {cap_ms} ms was answered {s.status or 'nothing'} after "
                              f"{s.ms / 1000:.1f} s, not 504 '{values['message']}' (PERF-01): the request is not cut")
            elif s.message != values["message"]:
                run.deviation(f"504 with message {s.message!r}, documented {values['message']!r}")
            elif not cap_ms - cut_ms <= s.ms <= cap_ms + cut_ms:
                run.deviation(f"the request was cut after {s.ms:.0f} ms, not at {cap_ms} ms (+- {cut_ms} ms)")

    def verify(self, run: Run) -> None:
        run.measure_detection()
        run.measure_recovery()
