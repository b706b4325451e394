"""The load verdicts on synthetic histories: each passes on a correct limiter and fails on the one
defect it guards against. (The twin runs are in test_fault_detection.py; these take milliseconds.)

The histories come from a small model of a fixed-window limiter written here, with switches for the
defects, so every case says exactly what the limiter did.
"""
from __future__ import annotations

import math

import pytest

from cloudflow_checks import spec as spec_module
from cloudflow_checks.load import paths, verdicts
from cloudflow_checks.load.plan import SHAPES, Stage, TierLimits, burst_plan, windows_plan
from cloudflow_checks.load.records import ClockLine, History, Request, window_of

T0 = 1_800_000_000.0          # a twin hour (and minute) edge
SPEC = spec_module.load()
FREE = TierLimits("free", 60, 1000, 5)


def plan_for(limits=FREE, stages=(Stage(1.5, 2), Stage(0.5, 0.5)), speed=1):
    return windows_plan("t", "http://127.0.0.1:1", paths.list_workflows(), limits, "sweep",
                        clock=speed > 1, speed=speed, stages=list(stages))


def limiter(times, limits=FREE, *, window_s=60, slack=0, retry_after_shift=0, retry_after=True,
            remaining_fixed=False, hourly=True, latency=0.01):
    """Requests sent at `times` (twin = wall here) answered by a fixed-window limiter model."""
    counts, out = {}, []
    for t in times:
        m, h = int(t // window_s), int(t // 3600)
        m_end, h_end = (m + 1) * window_s, (h + 1) * 3600
        c = counts.setdefault("c", [m, 0, h, 0])
        if c[0] != m:
            c[0], c[1] = m, 0
        if c[2] != h:
            c[2], c[3] = h, 0
        reset = str(math.ceil(m_end))
        if c[1] + 1 > limits.per_minute + slack:
            ra = max(1, math.ceil(m_end - t)) + retry_after_shift
        elif hourly and c[3] + 1 > limits.per_hour + slack:
            ra = max(1, math.ceil(h_end - t)) + retry_after_shift
        else:
            c[1] += 1
            c[3] += 1
            remaining = limits.per_minute if remaining_fixed else limits.per_minute - c[1]
            out.append(Request(t, t + latency, latency * 1000, 200, str(limits.per_minute), str(remaining),
                               reset, None, None, None, None, None, None))
            continue
        out.append(Request(t, t + latency, latency * 1000, 429, str(limits.per_minute), "0", reset,
                           str(ra) if retry_after else None, "rate_limit_exceeded",
                           f"API rate limit exceeded. Retry after {ra} seconds.", 429, None, None))
    return out


def history(requests, T0=T0):
    clock = ClockLine(t0=T0, T0=T0, speed=1, clock_control=False, sent=[], acked=[], offsets=[])
    for r in requests:
        r.lo, r.hi = clock.bounds(r.start, r.end)
        r.window = window_of(r)
    return History(sorted(requests, key=lambda r: r.start), clock)


def paced(rate_per_min, minutes, start=T0):
    n = int(rate_per_min * minutes)
    return [start + i * 60.0 / rate_per_min for i in range(n)]


def over_limit_times():
    return paced(90, 2) + paced(30, 0.5, start=T0 + 120)


def by_name(found):
    return {v.name: v for v in found}


def test_correct_limiter_passes_every_verdict():
    found = verdicts.judge(history(limiter(over_limit_times())), plan_for(), SPEC)
    assert all(v.passed for v in found), "\n".join(v.line() for v in found)
    assert len(found) == 6


def test_off_by_one_is_caught():
    found = by_name(verdicts.judge(history(limiter(over_limit_times(), slack=1)), plan_for(), SPEC))
    verdict = found["accepted per window equals the limit"]
    assert not verdict.passed and "more accepted than the limit" in verdict.summary


def test_double_burst_at_the_window_edge_is_caught():
    found = by_name(verdicts.judge(history(limiter(over_limit_times(), window_s=30)), plan_for(), SPEC))
    verdict = found["no double burst at a window edge"]
    assert not verdict.passed
    assert "window shorter than a minute" in verdict.summary and "double burst" in verdict.summary


def test_missing_retry_after_is_caught():
    found = by_name(verdicts.judge(history(limiter(over_limit_times(), retry_after=False)), plan_for(), SPEC))
    assert "no Retry-After header" in found["every rejection is the documented 429"].summary
    assert not found["waiting Retry-After is enough"].passed


def test_too_short_retry_after_is_caught():
    found = by_name(verdicts.judge(history(limiter(over_limit_times(), retry_after_shift=-3)), plan_for(), SPEC))
    assert "refused after waiting Retry-After" in found["waiting Retry-After is enough"].summary


def test_remaining_that_does_not_fall_is_caught():
    found = by_name(verdicts.judge(history(limiter(over_limit_times(), remaining_fixed=True)), plan_for(), SPEC))
    assert not found["Remaining falls monotonically in a window"].passed


def test_remaining_out_of_order_is_caught():
    requests = limiter(paced(30, 1))
    a, b = requests[3], requests[4]
    a.remaining, b.remaining = b.remaining, a.remaining      # b answered after a was, yet saw more left
    found = verdicts.remaining_monotonic(history(requests), plan_for())
    assert "rose or stood still" in found.summary


def test_unanswered_requests_widen_the_window_budget_instead_of_failing():
    requests = limiter(over_limit_times())
    lost = requests[10]
    lost.status, lost.limit, lost.remaining, lost.reset = 0, None, None, None
    lost.exception = "ConnectionResetError"
    found = by_name(verdicts.judge(history(requests), plan_for(), SPEC))
    assert found["accepted per window equals the limit"].passed
    assert "no answer" in found["p95 under the SLO at 1x, no 5xx"].summary


def test_under_the_limit_nothing_is_refused_and_nothing_is_inconclusive():
    plan = plan_for(stages=(Stage(0.5, 2),))
    found = verdicts.judge(history(limiter(paced(30, 2))), plan, SPEC)
    assert [v.name for v in found] == ["accepted per window equals the limit", "no double burst at a window edge",
                                       "Remaining falls monotonically in a window", "p95 under the SLO at 1x, no 5xx"]
    assert all(v.passed for v in found)


def test_slo_counts_only_the_1x_windows_and_fails_over_the_slo():
    plan = plan_for(stages=(Stage(0.5, 1), Stage(1.0, 1)))
    requests = limiter(paced(30, 1) + paced(60, 1, start=T0 + 60))
    for r in requests[:30]:
        r.ms = 9000.0       # slow, but in the 0.5x window: not the SLO's business
    assert verdicts.slo(history(requests), plan, SPEC).passed
    for r in requests[30:]:
        r.ms = 6000.0
    assert "over the SLO" in verdicts.slo(history(requests), plan, SPEC).summary


def test_hourly_cap_holds_and_an_ignored_hourly_cap_is_caught():
    plan = plan_for(stages=(Stage(1.5, 18),), speed=60)
    times = paced(90, 18)
    ok = verdicts.hourly_exact(history(limiter(times)), plan)
    assert ok.passed, ok.line()
    broken = verdicts.judge(history(limiter(times, hourly=False)), plan, SPEC, hourly=True)
    failed = {v.name for v in broken if not v.passed}
    assert {"accepted per hour equals the limit", "accepted per window equals the limit"} <= failed


def _burst(started, cap=5, offered=8, retry_after="1"):
    out = []
    for i in range(offered):
        ok = i < started
        out.append(Request(T0 + i / 100, T0 + i / 100 + 0.01, 10, 202 if ok else 429, "60", "50", str(int(T0) + 60),
                           None if ok else retry_after, None if ok else "concurrent_workflow_limit_exceeded",
                           None if ok else f"Concurrent workflow limit of {cap} reached.", None if ok else 429,
                           None, None))
    return history(out)


def test_concurrency_cap_exact_and_one_over_is_caught():
    plan = burst_plan("t", "http://127.0.0.1:1", paths.execute("wf_x"), FREE)
    assert verdicts.concurrency_exact(_burst(5), plan, SPEC).passed
    assert "cap not exact" in verdicts.concurrency_exact(_burst(6), plan, SPEC).summary
    assert "Retry-After not 1" in verdicts.concurrency_exact(_burst(5, retry_after=None), plan, SPEC).summary


def test_clock_bounds_follow_the_logged_offset_steps():
    clock = ClockLine(t0=100.0, T0=1000.0, speed=10, clock_control=True,
                      sent=[100.0, 100.1, 100.2], acked=[100.01, 100.11, 100.21], offsets=[900.0, 900.9, 901.8])
    lo, hi = clock.bounds(100.17, 100.25)       # sent after step 2 acked; answered after step 3 was sent
    assert lo == pytest.approx(100.17 + 900.9) and hi == pytest.approx(100.25 + 901.8)
    lo, _ = clock.bounds(100.13, 100.14)        # step 2 acked only 20 ms before: maybe not seen yet
    assert lo == pytest.approx(100.13 + 900.0)
    assert clock.window_index(1060) == 0 and clock.window_index(1120) == 1


@pytest.mark.parametrize("stages,speed", [((Stage(0.5, 1), Stage(1.0, 1), Stage(1.5, 1)), 10)])
def test_plan_users_offer_exact_multiples(stages, speed):
    plan = windows_plan("t", "http://127.0.0.1:1", paths.list_workflows(), TierLimits("standard", 1000, 50000, 50),
                        "sweep", clock=True, speed=speed, stages=list(stages))
    per_minute = [plan.offered_rate(s.multiplier) * plan.window_wall_s for s in stages]
    assert per_minute == pytest.approx([500, 1000, 1500])


def test_plan_refuses_non_loopback_and_unbounded_runs():
    from cloudflow_checks.load.plan import PlanError
    with pytest.raises(PlanError, match="loopback"):
        windows_plan("t", "https://api.cloudflow.io", paths.list_workflows(), FREE, "sweep", clock=False)
    with pytest.raises(PlanError, match="lasts"):
        windows_plan("t", "http://127.0.0.1:1", paths.list_workflows(), FREE, "sweep", clock=False,
                     stages=[Stage(0.5, 30)])


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_named_shape_reaches_a_second_window_so_the_edge_verdict_can_judge(shape):
    # `--shape at-limit` was one window: "no double burst at a window edge" was inconclusive on every run.
    assert sum(s.windows for s in SHAPES[shape]) > 1, SHAPES[shape]


def test_one_window_is_inconclusive_labelled_so_and_still_no_pass():
    plan = plan_for(stages=(Stage(1.0, 1),))
    edge = verdicts.window_edges(history(limiter(paced(60, 1))), plan)
    assert not edge.passed and edge.inconclusive
    assert edge.line().startswith("INCONCLUSIVE no double burst at a window edge")


def test_at_limit_over_two_windows_passes_the_edge_verdict():
    plan = plan_for(stages=SHAPES["at-limit"])
    edge = verdicts.window_edges(history(limiter(paced(60, 2))), plan)
    assert edge.passed and not edge.inconclusive, edge.line()
