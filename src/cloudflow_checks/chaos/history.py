"""A Jepsen-style history: every operation the experiment issued while faults ran, as invoked and
as completed (ok, fail, or info = unknown outcome), with times; and checkers over it afterwards.

An `ok` is an acknowledgement the target gave; a `fail` is a definite refusal (the target said it
did not do it, e.g. 503); `info` is indeterminate (no answer): it may or may not have happened.
"""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Callable


@dataclass
class Op:
    index: int
    process: str
    f: str
    invoke_t: float
    value: Any = None
    type: str = "invoke"           # invoke -> ok | fail | info
    complete_t: float | None = None
    status: int | None = None
    result: Any = None
    error: str = ""

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Invariant:
    name: str
    ok: bool
    detail: str
    counterexamples: list = field(default_factory=list)

    def to_json(self) -> dict:
        return {"name": self.name, "ok": self.ok, "detail": self.detail,
                "counterexamples": self.counterexamples[:20]}


class History:
    MAX_OPS = 5000

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._lock = threading.Lock()
        self.ops: list[Op] = []

    def invoke(self, process: str, f: str, value: Any = None) -> Op:
        with self._lock:
            if len(self.ops) >= self.MAX_OPS:
                raise RuntimeError(f"history is full ({self.MAX_OPS} operations)")
            op = Op(len(self.ops), process, f, self._clock(), value)
            self.ops.append(op)
            return op

    def complete(self, op: Op, type: str, *, status: int | None = None, result: Any = None, error: str = "") -> Op:
        assert type in ("ok", "fail", "info"), type
        op.type, op.complete_t, op.status, op.result, op.error = type, self._clock(), status, result, error[:300]
        return op

    def of(self, f: str, type: str | None = None) -> list[Op]:
        return [o for o in self.ops if o.f == f and (type is None or o.type == type)]

    def counts(self) -> dict[str, int]:
        out = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
        for o in self.ops:
            out[o.type] += 1
        return out

    def to_json(self) -> dict:
        return {"counts": self.counts(), "ops": [o.to_json() for o in self.ops]}


# --- checkers -----------------------------------------------------------------------------
def no_acknowledged_write_lost(history: History, f: str, read_back: Callable[[Any], Any]) -> Invariant:
    """Every `ok` of `f` (its result is the id the target acknowledged) can be read back."""
    acked = history.of(f, "ok")
    lost = [{"op": o.index, "id": o.result, "acked_at": o.complete_t} for o in acked if read_back(o.result) is None]
    return Invariant("no acknowledged submission lost", not lost,
                     f"{len(acked) - len(lost)} of {len(acked)} acknowledged submissions read back", lost)


def nothing_pending(history: History) -> Invariant:
    """Every invoked operation completed (as ok, fail or info): the recorder itself lost nothing."""
    open_ops = [o.index for o in history.ops if o.type == "invoke"]
    return Invariant("every operation completed", not open_ops,
                     f"{len(history.ops) - len(open_ops)} of {len(history.ops)} operations completed", open_ops)


def accounted_for(history: History, f: str, observed_ids: set[str]) -> Invariant:
    """What the target holds is explained by the history: acked ⊆ observed ⊆ acked + indeterminate.

    An execution the target holds that no `ok` or `info` op can explain came from a submission the
    target refused (`fail`): a refusal that nevertheless happened.
    """
    acked = {o.result for o in history.of(f, "ok")}
    unknown = len(history.of(f, "info"))
    extra = observed_ids - acked
    ok = acked <= observed_ids and len(extra) <= unknown
    return Invariant("target state explained by the history", ok,
                     f"{len(acked)} acknowledged, {len(observed_ids)} held by the target, "
                     f"{len(extra)} unacknowledged held, {unknown} indeterminate submissions",
                     sorted(extra)[:20] if len(extra) > unknown else sorted(acked - observed_ids)[:20])


def no_stuck_execution(final: dict[str, dict], waited_s: float) -> Invariant:
    """No execution is still RUNNING or PENDING after the heal plus `waited_s` (its deadline)."""
    stuck = [{"id": exec_id, "status": body.get("status"), "started_at": body.get("started_at")}
             for exec_id, body in final.items() if body.get("status") in ("RUNNING", "PENDING")]
    return Invariant("no execution stuck after the heal", not stuck,
                     f"{len(final) - len(stuck)} of {len(final)} executions finished within "
                     f"{waited_s:.0f} s of the heal", stuck)
