"""Pass/fail answers over a load run's history (k6 thresholds, Jepsen-style invariants).

Every verdict names the behaviour it judges, says what it expected and what it saw, and quotes the
first offending requests. Documented numbers come from the spec; the only constants here are the
minute (RATE-02 "Requests/Minute") and the hour.
"""
from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from .plan import HOUR_S, WINDOW_S, Plan
from .records import CONCURRENT, REJECTED, History, Request, as_int

MAX_EXAMPLES = 5


@dataclass
class Verdict:
    name: str
    behaviour: str
    passed: bool
    summary: str
    problems: list[str] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    @property
    def inconclusive(self) -> bool:
        """Nothing to judge: not a product failure, but no pass either (a gate fails on it)."""
        return not self.passed and self.summary.startswith("inconclusive")

    @property
    def label(self) -> str:
        return "PASS" if self.passed else "INCONCLUSIVE" if self.inconclusive else "FAIL"

    def line(self) -> str:
        return f"{self.label} {self.name} ({self.behaviour}): {self.summary}"

    def to_json(self) -> dict:
        return {"name": self.name, "behaviour": self.behaviour, "passed": self.passed,
                "inconclusive": self.inconclusive, "summary": self.summary, "problems": self.problems,
                "stats": self.stats}


class _Problems:
    """Counts problems by kind; keeps a few examples of each."""

    def __init__(self):
        self.counts: Counter = Counter()
        self.examples: list[str] = []

    def add(self, kind: str, example: str) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= 2 and len(self.examples) < MAX_EXAMPLES * 2:
            self.examples.append(example)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def summary(self) -> str:
        return "; ".join(f"{n} x {kind}" for kind, n in self.counts.most_common())


def _req(r: Request) -> str:
    return (f"[{r.status} twin {r.lo:.2f}..{r.hi:.2f} Remaining={r.remaining} Reset={r.reset} "
            f"Retry-After={r.retry_after} {r.correlation_id or ''}]")


@dataclass
class Window:
    end: int
    counted: list[Request] = field(default_factory=list)
    rejected: list[Request] = field(default_factory=list)
    unanswered: int = 0
    allowed: int = 0           # what the limiter should let through: min(limit, hour budget left)
    stage: float | None = None

    @property
    def offered(self) -> int:
        return len(self.counted) + len(self.rejected) + self.unanswered


def windows(history: History, plan: Plan) -> list[Window]:
    """The run's windows in order, with the budget each should allow (per minute and per hour)."""
    by_end: dict[int, Window] = {}
    for r in history.requests:
        if r.window is None:
            continue
        w = by_end.setdefault(r.window, Window(r.window))
        if not r.answered:
            w.unanswered += 1
        elif r.rejected:
            w.rejected.append(r)
        else:
            w.counted.append(r)
    ordered = [by_end[k] for k in sorted(by_end)]
    hour_used: Counter = Counter()   # the workspace is fresh: all its traffic is in this history
    for w in ordered:
        hour = (w.end - 1) // HOUR_S
        w.allowed = max(0, min(plan.limits.per_minute, plan.limits.per_hour - hour_used[hour]))
        hour_used[hour] += len(w.counted)
        stage = plan.stage_of_window(history.clock.window_index(w.end)) if plan.kind == "windows" else None
        w.stage = stage.multiplier if stage else None
    return ordered


def window_exact(history: History, plan: Plan) -> Verdict:
    """RATE-02: each window lets through exactly min(offered, limit) requests (and the hour's rest)."""
    problems, table = _Problems(), []
    ws = windows(history, plan)
    over = 0
    for w in ws:
        known = len(w.counted) + len(w.rejected)
        low, high = min(known, max(0, w.allowed - w.unanswered)), min(known, w.allowed)
        table.append({"window_end": w.end, "stage": w.stage, "offered": w.offered, "accepted": len(w.counted),
                      "rejected": len(w.rejected), "allowed": w.allowed, "unanswered": w.unanswered})
        if w.offered > w.allowed:
            over += 1
        if len(w.counted) > high:
            problems.add("more accepted than the limit",
                         f"window ending {w.end}: {len(w.counted)} accepted of {w.offered} offered, limit {w.allowed}")
        elif len(w.counted) < low:
            problems.add("refused below the limit",
                         f"window ending {w.end}: {len(w.counted)} accepted of {w.offered} offered, limit {w.allowed}")
    expect_over = any(s.multiplier > 1 for s in plan.stages)
    passed = not problems and bool(ws) and (over > 0 or not expect_over)
    summary = (problems.summary() if problems else
               f"{len(ws)} windows, {over} offered beyond the limit, each accepted min(offered, limit)"
               if passed else f"inconclusive: no window was offered more than its limit ({len(ws)} windows)")
    return Verdict("accepted per window equals the limit", "RATE-02", passed, summary, problems.examples,
                   {"windows": table})


def window_edges(history: History, plan: Plan) -> Verdict:
    """RATE-02: windows are one minute long; no minute lets through more than the limit (no edge burst)."""
    problems = _Problems()
    ws = windows(history, plan)
    ends = [w.end for w in ws]
    for a, b in zip(ends, ends[1:]):
        if (b - a) % WINDOW_S:
            problems.add("window shorter than a minute",
                         f"consecutive X-RateLimit-Reset values {a} and {b} are {b - a} s apart")
    per_minute: defaultdict = defaultdict(int)
    for w in ws:
        per_minute[math.ceil(w.end / WINDOW_S)] += len(w.counted)
    for minute, accepted in sorted(per_minute.items()):
        if accepted > plan.limits.per_minute:
            problems.add("double burst within one minute",
                         f"{accepted} accepted in the minute ending {minute * WINDOW_S}, limit {plan.limits.per_minute}")
    passed = not problems and len(ws) >= 2
    summary = (problems.summary() if problems else
               f"{len(ws)} windows, {WINDOW_S} s apart, none over the limit" if len(ws) >= 2
               else "inconclusive: fewer than two windows seen")
    return Verdict("no double burst at a window edge", "RATE-02", passed, summary, problems.examples)


def rejections_documented(history: History, plan: Plan, spec) -> Verdict:
    """RATE-01: every rejection is the documented 429, its headers consistent with each other."""
    rate = spec["RATE-01"]
    tol = rate.tolerance("reset_s")
    limit = str(plan.limits.per_minute)
    problems = _Problems()
    rejected = [r for r in history.requests if r.rejected]
    for r in rejected:
        ra = as_int(r.retry_after)
        if r.error != rate["error"] or r.body_status != rate["status"]:
            problems.add("body not the documented rate_limit_exceeded", _req(r) + f" error={r.error!r} status={r.body_status!r}")
        if r.retry_after is None:
            problems.add("no Retry-After header", _req(r))
        elif ra is None or ra < 1:
            problems.add("Retry-After not whole seconds >= 1", _req(r))
        elif r.message != rate["message"].format(seconds=ra):
            problems.add("message differs from the documented wording", _req(r) + f" message={r.message!r}")
        if r.limit != limit:
            problems.add("X-RateLimit-Limit not the tier limit", _req(r) + f" Limit={r.limit}")
        if r.remaining != "0":
            problems.add("X-RateLimit-Remaining not 0", _req(r))
        reset = as_int(r.reset)
        if reset is None:
            problems.add("no X-RateLimit-Reset", _req(r))
        elif not (r.lo - tol < reset <= r.hi + WINDOW_S + tol):
            problems.add("X-RateLimit-Reset not the end of the current minute", _req(r))
        elif ra is not None and not _retry_after_consistent(r, ra, reset, tol):
            problems.add("Retry-After disagrees with X-RateLimit-Reset (and the hour)", _req(r))
    limits_seen = Counter(r.limit for r in history.requests if r.answered and r.limit is not None)
    if set(limits_seen) - {limit}:
        problems.add("X-RateLimit-Limit varies", f"values seen: {dict(limits_seen)}")
    passed = not problems and bool(rejected)
    summary = (problems.summary() if problems else
               f"{len(rejected)} rejections, all the documented 429 with consistent headers" if rejected
               else "inconclusive: no request was rejected")
    return Verdict("every rejection is the documented 429", "RATE-01", passed, summary, problems.examples,
                   {"rejections": len(rejected)})


def _retry_after_consistent(r: Request, ra: int, reset: int, tol: float) -> bool:
    """Retry-After = seconds until the window that blocked ends: the minute (Reset) or the hour."""
    for end in (reset, math.ceil(r.hi / HOUR_S) * HOUR_S):
        low, high = max(1, math.ceil(end - r.hi)), max(1, math.ceil(end - r.lo))
        if low - tol <= ra <= high + tol:
            return True
    return False


def remaining_monotonic(history: History, plan: Plan) -> Verdict:
    """RATE-03: inside a window Remaining falls by one per counted request, never rising."""
    problems = _Problems()
    checked = 0
    for w in windows(history, plan):
        values = [as_int(r.remaining) for r in w.counted]
        if any(v is None for v in values):
            problems.add("counted answer without X-RateLimit-Remaining",
                         _req(next(r for r in w.counted if as_int(r.remaining) is None)))
            continue
        checked += len(values)
        floor = plan.limits.per_minute - len(w.counted) - w.unanswered
        dupes = [v for v, n in Counter(values).items() if n > 1]
        if dupes:
            problems.add("the same Remaining twice in a window", f"window ending {w.end}: Remaining {sorted(dupes)[:5]} repeated")
        out = [v for v in values if not floor <= v <= plan.limits.per_minute - 1]
        if out:
            problems.add("Remaining outside what the window's requests leave",
                         f"window ending {w.end}: {out[:5]} not in [{floor}, {plan.limits.per_minute - 1}]")
        # happens-before: a request answered before another was sent saw a larger Remaining
        by_end = sorted(w.counted, key=lambda r: r.end)
        ends = [r.end for r in by_end]
        prefix_min, lowest = [], math.inf
        for r in by_end:
            lowest = min(lowest, as_int(r.remaining))
            prefix_min.append(lowest)
        for r in w.counted:
            k = bisect.bisect_left(ends, r.start) - 1
            if k >= 0 and prefix_min[k] <= as_int(r.remaining):
                problems.add("Remaining rose or stood still between requests in order",
                             f"window ending {w.end}: {_req(r)} after one that saw Remaining={prefix_min[k]}")
    passed = not problems and checked > 0
    summary = problems.summary() if problems else (f"{checked} counted answers, Remaining strictly falling"
                                                   if checked else "inconclusive: no counted answers")
    return Verdict("Remaining falls monotonically in a window", "RATE-03", passed, summary, problems.examples)


def retry_after_sufficient(history: History, plan: Plan) -> Verdict:
    """RATE-01: a request sent Retry-After seconds after a 429 is not refused by the same window."""
    problems = _Problems()
    requests = sorted(history.requests, key=lambda r: r.lo)
    los = [r.lo for r in requests]
    full = {w.end for w in windows(history, plan) if len(w.counted) >= w.allowed}
    verified = unverifiable = 0
    for r in (r for r in requests if r.rejected):
        ra = as_int(r.retry_after)
        if ra is None:
            problems.add("no Retry-After to wait", _req(r))
            continue
        i = bisect.bisect_left(los, r.hi + ra)
        nxt = next((q for q in requests[i:] if q.answered), None)
        if nxt is None:
            unverifiable += 1
            continue
        verified += 1
        if nxt.rejected and (nxt.window == r.window or nxt.window not in full):
            problems.add("refused after waiting Retry-After",
                         f"{_req(r)} then, {ra} s later, {_req(nxt)}")
    passed = not problems and verified > 0
    summary = (problems.summary() if problems else
               f"{verified} rejections followed by a request after Retry-After: all passed"
               if verified else "inconclusive: no request came after a Retry-After wait")
    return Verdict("waiting Retry-After is enough", "RATE-01", passed, summary, problems.examples,
                   {"verified": verified, "unverifiable": unverifiable})


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def slo(history: History, plan: Plan, spec) -> Verdict:
    """PERF-02: at 1x the limit the p95 of accepted requests is under the SLO; no 5xx at all."""
    slo_ms = spec["PERF-02"]["p95_slo_ms"]
    ws = windows(history, plan)
    at_limit = {w.end for w in ws if w.stage == 1.0}
    sample = [r.ms for r in history.requests
              if 200 <= r.status < 300 and (not at_limit or r.window in at_limit)]
    p95 = percentile(sample, 0.95)
    errors = Counter(r.status for r in history.requests if r.status >= 500)
    unanswered = sum(1 for r in history.requests if not r.answered)
    problems = _Problems()
    if p95 is None:
        problems.add("no accepted request to measure", "")
    elif p95 >= slo_ms:
        problems.add(f"p95 {p95:.0f} ms at or over the SLO of {slo_ms} ms", "")
    for status, n in errors.items():
        problems.add(f"HTTP {status}", f"{n} answers with status {status}")
    if unanswered:
        examples = Counter(r.exception for r in history.requests if not r.answered).most_common(2)
        problems.add("no answer", f"{unanswered} requests got no answer: {examples}")
    scope = "the 1x windows" if at_limit else "the whole run"
    summary = problems.summary() if problems else (
        f"p95 {p95:.0f} ms over {len(sample)} accepted requests in {scope} (SLO {slo_ms} ms), no 5xx")
    return Verdict("p95 under the SLO at 1x, no 5xx", "PERF-02", not problems, summary, problems.examples,
                   {"p95_ms": p95, "p50_ms": percentile(sample, 0.5), "p99_ms": percentile(sample, 0.99),
                    "sample": len(sample), "status_5xx": dict(errors), "unanswered": unanswered})


def hourly_exact(history: History, plan: Plan) -> Verdict:
    """RATE-02: a twin hour lets through exactly the tier's per-hour limit when offered more."""
    per_hour: defaultdict = defaultdict(lambda: [0, 0])
    for w in windows(history, plan):
        bucket = per_hour[(w.end - 1) // HOUR_S]
        bucket[0] += len(w.counted)
        bucket[1] += min(w.offered, plan.limits.per_minute)
    problems = _Problems()
    capped = 0
    for hour, (accepted, offered_in_minute_budget) in sorted(per_hour.items()):
        expected = min(offered_in_minute_budget, plan.limits.per_hour)
        capped += offered_in_minute_budget > plan.limits.per_hour
        if accepted != expected:
            problems.add("hourly total not the limit",
                         f"hour ending {(hour + 1) * HOUR_S}: {accepted} accepted, expected {expected} "
                         f"(per hour {plan.limits.per_hour})")
    passed = not problems and capped > 0
    summary = problems.summary() if problems else (
        f"the hour accepted exactly {plan.limits.per_hour}" if capped
        else "inconclusive: no hour was offered more than its limit")
    return Verdict("accepted per hour equals the limit", "RATE-02", passed, summary, problems.examples,
                   {"hours": {str((h + 1) * HOUR_S): v[0] for h, v in per_hour.items()}})


def concurrency_exact(history: History, plan: Plan, spec) -> Verdict:
    """RATE-02: of a burst of executions, exactly the tier's concurrent-workflow cap start."""
    cap = plan.limits.concurrent_workflows
    started = [r for r in history.requests if r.status == 202]
    refused = [r for r in history.requests if r.status == 429 and r.error == CONCURRENT]
    other = [r for r in history.requests if r.status != 202 and not (r.status == 429 and r.error == CONCURRENT)]
    problems = _Problems()
    if len(started) != cap:
        problems.add("cap not exact", f"{len(started)} executions started of {len(history.requests)} offered, cap {cap}")
    expected = f"Concurrent workflow limit of {cap} reached."
    for r in refused:
        if r.message != expected:
            problems.add("message differs", _req(r) + f" message={r.message!r}")
        if r.retry_after != "1":
            problems.add("Retry-After not 1", _req(r))
    for r in other:
        problems.add(f"unexpected answer {r.status} {r.error or r.exception or ''}".strip(), _req(r))
    passed = not problems and len(history.requests) > cap
    summary = problems.summary() if problems else (
        f"{len(history.requests)} concurrent starts: exactly {cap} accepted, {len(refused)} refused as documented"
        if passed else f"inconclusive: only {len(history.requests)} starts offered for a cap of {cap}")
    return Verdict("concurrent-workflow cap is exact", "RATE-02", passed, summary, problems.examples,
                   {"offered": len(history.requests), "started": len(started), "refused": len(refused)})


def judge(history: History, plan: Plan, spec, *, hourly: bool = False) -> list[Verdict]:
    """The verdicts that apply to this kind of run."""
    if plan.kind == "burst":
        return [concurrency_exact(history, plan, spec)]
    verdicts = [window_exact(history, plan), window_edges(history, plan), remaining_monotonic(history, plan)]
    if any(s.multiplier > 1 for s in plan.stages):   # rejections are expected only past the limit
        verdicts += [rejections_documented(history, plan, spec), retry_after_sufficient(history, plan)]
    verdicts.append(slo(history, plan, spec))
    if hourly:
        verdicts.append(hourly_exact(history, plan))
    return verdicts
