"""Slow database behind the cache (PERF-04): workspace metadata stays fast from the cache while
every database round trip is slow.

Guide: Performance Problems > Slow Query Performance > Use query result caching.
"""
from __future__ import annotations

from ..runner import Experiment, Run


class SlowDatabaseBehindCache(Experiment):
    name = "cache-slow-db"
    title = "Slow database behind the cache: workspace metadata stays fast"
    behaviours = ("PERF-04",)
    bounds_from = "PERF-04"

    def hypothesis_text(self) -> list[str]:
        return super().hypothesis_text() + ["workspace metadata is served from the cache (X-Cache: HIT) fast"]

    def steady_state(self, run: Run) -> None:
        super().steady_state(run)
        with run.activity("workspace metadata read twice: the second from the cache") as act:
            run.call("cached", self._read(run))
            response, sample = run.call("cached", self._read(run))
            act.output = {"status": sample.status, "ms": sample.ms, "X-Cache": sample.cache}
            run.require(sample.status == 200, f"steady state not met: workspace metadata answered {sample.status}")

    @staticmethod
    def _read(run: Run):
        return lambda: run.ctx.admin.workspace(run.ctx.workspace.id)

    def detects(self, sample) -> bool:
        return sample.series in ("pooled", "steady") and sample.ms >= 0.9 * self._latency

    def method(self, run: Run) -> None:
        """latency toxic on postgres (every database round trip slow)
        prove it live: a fresh round trip is slow, and a database-backed read on a pooled connection is slow
        read the workspace metadata repeatedly: each from the cache (X-Cache: HIT), under the cached-latency bound"""
        latency = int(run.tol("db_latency_ms"))
        self._latency = latency
        bound = run.tol("cached_latency_ms")
        with run.toxic("postgres", "latency", {"latency": latency, "jitter": 0}):
            run.prove_fresh_round_trip("postgres", expect="slow", slower_than_ms=0.9 * latency,
                                       timeout_s=latency / 1000 + 3)
            _, pooled = run.call("pooled", run.ctx.admin.list_workflows)
            run.prove(pooled.ms >= 0.9 * latency, f"a database-backed read on a pooled connection takes at least "
                                                  f"{0.9 * latency:.0f} ms", {"status": pooled.status, "ms": pooled.ms})
            reads = [run.call("cached", self._read(run))[1] for _ in range(int(run.tol("cached_reads")))]
            misses = [s for s in reads if s.cache != "HIT"]
            slow = [s for s in reads if s.ms >= bound]
            errors = [s for s in reads if s.status != 200]
            run.journal.invariants.append({"name": "cached reads while the database is slow", "ok": not (misses or slow or errors),
                                           "detail": [{"ms": s.ms, "X-Cache": s.cache, "status": s.status} for s in reads]})
            run.expect(not errors, f"{len(errors)} of {len(reads)} workspace metadata reads failed while the "
                                   f"database was slow: {errors[0].status if errors else ''} {errors[0].message if errors else ''}")
            run.expect(not misses, f"{len(misses)} of {len(reads)} workspace metadata reads were not served from "
                                   f"the cache (X-Cache {sorted({s.cache or 'absent' for s in misses})}) while the "
                                   f"database was slow (PERF-04, cache ttl {run.spec['PERF-04']['cache_ttl_s']} s)")
            run.expect(not slow, f"{len(slow)} of {len(reads)} workspace metadata reads took >= {bound} ms "
                                 f"(slowest {max((s.ms for s in slow), default=0):.0f} ms) with the database "
                                 f"{latency} ms slow: not served from the cache")

    def verify(self, run: Run) -> None:
        run.measure_detection()
        run.measure_recovery()
