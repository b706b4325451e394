"""Running one experiment: steady-state hypothesis, method, rollbacks, verification, journal.

    before   sweep leftovers of crashed runs (reported); steady-state hypothesis must hold
    method   faults as context managers (each proven live before anything is judged), observations
    rollback every fault undone on every exit path: pass, deviation, error, SIGINT/SIGTERM, abort
    after    recovery (time to recover vs the spec's bound), invariants over the history, journal

Signals: SIGINT and SIGTERM raise `Interrupted` in the main thread, so the `with` blocks holding
faults unwind; while a fault is being injected or rolled back the signal is held and raised right
after, so a toxic is never half-added or half-removed. The blast-radius guard runs in the prober
thread: when the steady state breaks beyond the bound outside the fault window it records why and
interrupts the main thread with SIGUSR1, which raises `BlastRadiusExceeded` there.
"""
from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterator

from . import probes
from .faults import Fault, FaultNotLive
from .history import History
from .journal import Activity, Journal, Measurement

if TYPE_CHECKING:
    from .context import ChaosContext


class Deviation(AssertionError):
    """A documented behaviour did not hold: the method stops, the rollbacks run."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: unwind (rolling back) and stop."""


class BlastRadiusExceeded(BaseException):
    """The steady state broke beyond the bound outside the fault window: abort and roll back."""


class Experiment:
    """One experiment. Subclasses set the metadata and write `method` (and `verify`)."""

    name = ""
    title = ""
    behaviours: tuple[str, ...] = ()
    requires: tuple[str, ...] = ("toxiproxy", "provisioning")
    proxies: tuple[str, ...] = ("postgres",)
    bounds_from = ""                 # behaviour ID whose tolerances hold detect/recover/blast bounds
    probe_interval_s = 0.5
    max_duration_s = 240.0           # the prober stops by itself after this

    def plan(self) -> dict:
        """The experiment as declared (journal header): hypothesis, method, rollbacks."""
        return {"name": self.name, "title": self.title, "behaviours": list(self.behaviours),
                "requires": list(self.requires), "proxies": list(self.proxies),
                "steady_state_hypothesis": self.hypothesis_text(),
                "method": [line.strip() for line in (self.method.__doc__ or "").strip().splitlines() if line.strip()],
                "rollbacks": ["remove every cfc_ toxic this run added", "enable every proxy this run disabled",
                              "put back stub modes and the clock this run changed"]}

    def hypothesis_text(self) -> list[str]:
        return ["GET /health answers 200 and names the database up (HEALTH-01)",
                "a database-backed read answers 200 under the p95 SLO (PERF-02)"]

    def steady_state(self, run: "Run") -> None:
        run.steady_state_common()

    def method(self, run: "Run") -> None:
        raise NotImplementedError

    def verify(self, run: "Run") -> None:
        """After the rollbacks: recovery and invariants. Default: the recovery of the last fault."""
        run.measure_recovery()

    def detects(self, sample: probes.Sample) -> bool:
        """The documented failure signal an operator's probe would see (time to detect)."""
        return sample.series == "steady" and sample.status == 503


class Run:
    """The state of one experiment run: clock, samples, history, faults, journal."""

    def __init__(self, experiment: Experiment, ctx: "ChaosContext", *, sweep: list[str] | None = None,
                 overrides: dict[str, Any] | None = None):
        self.experiment, self.ctx = experiment, ctx
        self.spec = ctx.spec
        self.recorder = probes.Recorder()
        self.history = History(self.recorder.now)
        self.faults: list[Fault] = []
        self.overrides = dict(overrides or {})
        self.journal = Journal(experiment=experiment.plan(), target=ctx.target_info(), sweep=list(sweep or []))
        self.phase = "steady-state-before"
        self._critical = 0
        self._pending_signal: str | None = None
        self._impact_until = 0.0          # run time until which steady-state breaks are expected
        self._consecutive_breaks = 0
        self.abort_reason: str | None = None
        self._main = threading.main_thread()

    # --- bounds from the spec ----------------------------------------------------------------
    def tol(self, key: str, behaviour: str | None = None) -> Any:
        if key in self.overrides:
            return self.overrides[key]
        return self.spec[behaviour or self.experiment.bounds_from].tolerance(key)

    def now(self) -> float:
        return self.recorder.now()

    # --- journal -----------------------------------------------------------------------------
    @contextmanager
    def activity(self, name: str) -> Iterator[Activity]:
        act = Activity(self.phase, name, self.now())
        self.journal.activities.append(act)
        try:
            yield act
            act.status = "succeeded"
        except Deviation as exc:
            act.status, act.output = "deviated", act.output or str(exc)
            raise
        except FaultNotLive as exc:
            act.status, act.output = "failed", str(exc)
            raise
        except Interrupted:
            act.status = "interrupted"
            raise
        except BlastRadiusExceeded:
            act.status = "aborted"
            raise
        except Exception as exc:
            act.status, act.output = "error", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            act.ended = self.now()

    def deviation(self, message: str) -> None:
        """A finding that does not stop the method (the run will not pass)."""
        if message not in self.journal.findings:
            self.journal.findings.append(message)

    def expect(self, condition: bool, message: str) -> bool:
        if not condition:
            self.deviation(message)
        return condition

    def require(self, condition: bool, message: str) -> None:
        """A finding after which going on makes no sense: stop the method (rollbacks still run)."""
        if not condition:
            self.deviation(message)
            raise Deviation(message)

    def measure(self, name: str, value: float | None, bound: float | None, *, source: str,
                unit: str = "s", what: str = "") -> Measurement:
        m = Measurement(name, value, bound, unit, source)
        self.journal.measurements.append(m)
        if value is None:
            self.deviation(f"{name}: never reached{(' (' + what + ')') if what else ''}; bound {bound} {unit} ({source})")
        elif not m.ok:
            self.deviation(f"{name} was {value:.2f} {unit}, over the bound of {bound} {unit} ({source})")
        return m

    # --- calls and probes --------------------------------------------------------------------
    def call(self, series: str, request: Callable, judge: Callable | None = None):
        return self.recorder.timed(series, request, judge)

    def steady_probe(self):
        """One steady-state sample: a database-backed read, 200 under the p95 SLO."""
        slo = self.spec["PERF-02"]["p95_slo_ms"]
        return self.call("steady", self.ctx.probe_client.list_workflows,
                         lambda r, ms: r.status_code == 200 and ms < slo)

    def steady_state_common(self) -> None:
        values = self.spec["HEALTH-01"]
        with self.activity("GET /health answers 200, database up") as act:
            response, sample = self.call("health", self.ctx.api.health)
            act.output = {"status": sample.status, "ms": sample.ms}
            body = response.json() if response is not None and response.status_code < 500 else {}
            database = (body.get("dependencies") or {}).get("database", {})
            self.require(sample.status == values["status_healthy"] and database.get("status") == "up",
                         f"steady state not met before the fault: /health answered {sample.status} "
                         f"({sample.message or database}); no fault was injected")
        with self.activity("a database-backed read answers 200 under the SLO") as act:
            _, sample = self.steady_probe()
            act.output = {"status": sample.status, "ms": sample.ms}
            self.require(sample.ok, f"steady state not met before the fault: GET workflows answered "
                                    f"{sample.status} in {sample.ms:.0f} ms; no fault was injected")

    # --- faults ------------------------------------------------------------------------------
    @contextmanager
    def critical(self) -> Iterator[None]:
        """Hold SIGINT/SIGTERM while a fault is half-made or half-undone."""
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
        if self._critical == 0 and self._pending_signal:
            name, self._pending_signal = self._pending_signal, None
            raise Interrupted(name)

    def _injected(self, fault: Fault, impacts_steady: bool = True) -> None:
        fault.injected_at = self.now()
        fault.impacts_steady = impacts_steady
        self.faults.append(fault)
        self.journal.faults.append(fault.to_json())
        if impacts_steady:
            self._impact_until = float("inf")

    def _healed(self, fault: Fault) -> None:
        fault.healed_at = self.now()
        self.journal.faults[self.faults.index(fault)] = fault.to_json()
        if fault.impacts_steady and all(f.healed_at is not None for f in self.faults if f.impacts_steady):
            self._impact_until = fault.healed_at + float(self.tol("recover_s"))

    @contextmanager
    def _fault(self, factory: Callable[..., Any], label: str, impacts_steady: bool = True) -> Iterator[Fault]:
        cm = factory(on_inject=lambda fault: self._injected(fault, impacts_steady))
        with self.critical():
            with self.activity(f"inject {label}"):
                fault = cm.__enter__()
        try:
            yield fault
        except BaseException as exc:
            with self.critical():
                with self._rollback_activity(label, fault):
                    cm.__exit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            with self.critical():
                with self._rollback_activity(label, fault):
                    cm.__exit__(None, None, None)

    @contextmanager
    def _rollback_activity(self, label: str, fault: Fault) -> Iterator[None]:
        saved, self.phase = self.phase, "rollback"
        try:
            with self.activity(f"roll back {label}") as act:
                yield
                act.output = fault.rollback
        finally:
            self._healed(fault)
            self.phase = saved

    def toxic(self, logical: str, type: str, attributes: dict, *, stream: str = "downstream",
              impacts_steady: bool = True) -> Any:
        """A toxic for the `with` block. `impacts_steady=False`: the steady-state probe (a database
        read) is not expected to break while it is in place, so the blast-radius guard stays armed."""
        label = f"{type} toxic {attributes} on {logical} ({stream})"
        return self._fault(lambda on_inject: self.ctx.proxies.toxic(
            logical, type, attributes, label=self.experiment.name.replace("-", "_")[:24], stream=stream,
            on_inject=on_inject), label, impacts_steady)

    def partition(self, logical: str, *, impacts_steady: bool = True) -> Any:
        return self._fault(lambda on_inject: self.ctx.proxies.partition(logical, on_inject=on_inject),
                           f"partition of {logical}", impacts_steady)

    @contextmanager
    def stub_fault(self, label: str, apply: Callable[[], None], undo: Callable[[], None], *,
                   impacts_steady: bool = False) -> Iterator[Fault]:
        """A fault made through the target's own control (e.g. the partner stub answering 502)."""
        fault = Fault("stub", label, label)
        with self.critical():
            with self.activity(f"inject {label}"):
                apply()
                self._injected(fault, impacts_steady)
        try:
            yield fault
        finally:
            with self.critical():
                with self._rollback_activity(label, fault):
                    undo()
                    fault.rollback = "undone"

    # --- proving the fault live ----------------------------------------------------------------
    def prove(self, condition: bool, message: str, evidence: Any = None) -> None:
        """A fault whose effect is not seen fails the experiment; it never passes it."""
        with self.activity(f"fault live: {message}") as act:
            act.output = evidence
            if not condition:
                raise FaultNotLive(f"the fault was not live: {message}; seen: {evidence}")

    def prove_fresh_round_trip(self, logical: str, *, expect: str, slower_than_ms: float | None = None,
                               timeout_s: float = 3.0, tries: int = 1) -> list[dict]:
        """A connection opened now through the proxy shows the fault (slow, refused, reset...)."""
        seen = [self.ctx.proxies.fresh_round_trip(logical, timeout_s) for _ in range(tries)]
        evidence = [rt.to_json() for rt in seen]
        if expect == "slow":
            ok = all(rt.outcome == "timeout" or (rt.ok and rt.ms >= slower_than_ms) for rt in seen)
            self.prove(ok, f"a fresh round trip through {logical} takes at least {slower_than_ms:.0f} ms", evidence)
        else:
            wanted = set(expect.split("|"))
            hits = [rt for rt in seen if rt.outcome in wanted]
            self.prove(len(hits) == len(seen), f"a fresh connection through {logical} is {expect} "
                                               f"({len(hits)} of {len(seen)} counted)", evidence)
        return evidence

    # --- blast radius ------------------------------------------------------------------------
    def watch(self, sample: probes.Sample) -> None:
        """Prober thread: count steady-state breaks outside the fault window; abort past the bound."""
        if sample.series != "steady" or self.abort_reason:
            return
        if sample.ok or sample.t < self._impact_until and self.faults:
            self._consecutive_breaks = 0
            return
        self._consecutive_breaks += 1
        bound = int(self.tol("blast_radius_failures"))
        if self._consecutive_breaks > bound:
            self.abort_reason = (f"blast radius: the steady state broke {self._consecutive_breaks} times in a row "
                                 f"outside the fault window (bound {bound}); last: {sample.status} "
                                 f"{sample.message or ''} in {sample.ms:.0f} ms at t={sample.t:.1f} s")
            if self._critical == 0:
                try:
                    signal.pthread_kill(self._main.ident, signal.SIGUSR1)
                except (AttributeError, ProcessLookupError, ValueError):
                    pass

    def check_abort(self) -> None:
        if self.abort_reason and self._critical == 0:
            raise BlastRadiusExceeded(self.abort_reason)

    def sleep(self, seconds: float) -> None:
        """A bounded pause that still notices an abort (observation windows, not sleep-and-hope)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.check_abort()
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))

    def poll(self, fetch: Callable[[], Any], until: Callable[[Any], bool], *, timeout_s: float,
             interval_s: float = 0.25) -> tuple[bool, Any]:
        """Poll with a deadline; (reached, last value). Never raises on timeout: the caller judges."""
        deadline = time.monotonic() + timeout_s
        last = None
        while True:
            self.check_abort()
            last = fetch()
            if until(last):
                return True, last
            if time.monotonic() >= deadline:
                return False, last
            time.sleep(interval_s)

    # --- measures ----------------------------------------------------------------------------
    def measure_detection(self, fault: Fault | None = None, *, detects: Callable | None = None,
                          label: str = "time_to_detect") -> Measurement:
        fault = fault or self.faults[0]
        value = probes.time_to_detect(self.recorder.samples(), fault.injected_at, detects or self.experiment.detects)
        return self.measure(f"{label}", value, float(self.tol("detect_s")),
                            source=f"{self.experiment.bounds_from} tolerances.detect_s",
                            what="no probe saw the documented failure signal")

    def wait_recovered(self, fault: Fault | None = None) -> float | None:
        """Wait (bounded by the recover bound) until the steady state holds again after the heal."""
        fault = fault or self.faults[-1]
        bound, stable = float(self.tol("recover_s")), 3
        deadline = time.monotonic() + max(0.0, fault.healed_at + bound - self.now()) + 2 * self.experiment.probe_interval_s * stable
        while time.monotonic() < deadline:
            if probes.time_to_recover(self.recorder.samples("steady"), fault.healed_at, stable=stable) is not None:
                break
            time.sleep(0.1)
        return probes.time_to_recover(self.recorder.samples("steady"), fault.healed_at, stable=stable)

    def measure_recovery(self, fault: Fault | None = None, label: str = "time_to_recover") -> Measurement:
        fault = fault or self.faults[-1]
        value = self.wait_recovered(fault)
        return self.measure(label, value, float(self.tol("recover_s")),
                            source=f"{self.experiment.bounds_from} tolerances.recover_s",
                            what="the steady state did not hold again after the heal")


# --- executing --------------------------------------------------------------------------------
@contextmanager
def _signals(run: Run) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum, frame):
        name = signal.Signals(signum).name
        run.journal.activities.append(Activity(run.phase, f"received {name}", run.now(), run.now(), "interrupted"))
        if run._critical:
            run._pending_signal = name
            return
        raise Interrupted(name)

    def on_abort(signum, frame):
        if run._critical == 0 and run.abort_reason:
            raise BlastRadiusExceeded(run.abort_reason)

    previous = {s: signal.signal(s, h) for s, h in ((signal.SIGINT, on_signal), (signal.SIGTERM, on_signal),
                                                      (signal.SIGUSR1, on_abort))}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def execute(experiment: Experiment, ctx: "ChaosContext", *, sweep: list[str] | None = None,
            overrides: dict[str, Any] | None = None, on_phase: Callable[[str], None] | None = None) -> Journal:
    """Run one experiment to its end, rolling back on every exit path; the journal says how it went
    (status `interrupted` after SIGINT/SIGTERM: a game day stops there)."""
    run = Run(experiment, ctx, sweep=sweep, overrides=overrides)
    journal = run.journal
    t0 = time.monotonic()
    interrupted: Interrupted | None = None

    def phase(name: str) -> None:
        run.phase = name
        if on_phase:
            on_phase(name)

    prober = probes.Prober(run.recorder, run.steady_probe, interval_s=experiment.probe_interval_s,
                           max_duration_s=experiment.max_duration_s, watch=run.watch)
    with _signals(run):
        try:
            try:
                phase("steady-state-before")
                experiment.steady_state(run)
                prober.__enter__()
                phase("method")
                experiment.method(run)
                phase("verify")
                experiment.verify(run)
                run.check_abort()
                journal.status = "deviated" if journal.findings else "completed"
            except Deviation:
                journal.status = "deviated"
            except FaultNotLive as exc:
                journal.status, journal.error = "failed", str(exc)
            except BlastRadiusExceeded as exc:
                journal.status, journal.error = "aborted", str(exc) or run.abort_reason
            except Interrupted as exc:
                journal.status, journal.error = "interrupted", f"interrupted by {exc}"
                interrupted = exc
            except Exception as exc:  # an error in the suite or the target: failed, never passed
                journal.status, journal.error = "failed", f"{type(exc).__name__}: {exc}"
            finally:
                run._critical += 1          # from here on, signals wait for the bookkeeping
                prober.stop()
                _final_rollback(run)
                run._critical -= 1
        except Interrupted as exc:          # a signal during the method's own rollback bookkeeping
            journal.status, journal.error = "interrupted", f"interrupted by {exc}"
            interrupted = exc
            _final_rollback(run)
    if run._pending_signal and interrupted is None:
        journal.status, journal.error = "interrupted", f"interrupted by {run._pending_signal}"
        interrupted = Interrupted(run._pending_signal)
    if prober.errors:
        journal.findings.append(f"the steady-state probe itself failed: {prober.errors[0]}")
    journal.samples = [s.to_json() for s in run.recorder.samples()]
    journal.history = run.history.to_json() if run.history.ops else None
    journal.ended_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    journal.duration_s = round(time.monotonic() - t0, 2)
    return journal


def _final_rollback(run: Run) -> None:
    """Whatever a context manager could not undo (it never ran, or failed): undo it now, and read
    the Toxiproxy API back to be sure nothing of this run is left."""
    for fault in run.faults:
        if fault.rollback in ("removed", "already gone", "enabled", "undone"):
            continue
        if fault.kind == "toxic":
            fault.rollback = run.ctx.proxies._remove(fault.proxy, fault.toxic)
        elif fault.kind == "partition":
            fault.rollback = run.ctx.proxies._enable(fault.proxy)
        run.journal.activities.append(Activity("rollback", f"final rollback of {fault.kind} on {fault.proxy}",
                                               run.now(), run.now(), "succeeded", fault.rollback))
    for fault in run.faults:
        if fault.healed_at is None:
            fault.healed_at = run.now()
    run.journal.faults = [f.to_json() for f in run.faults]
    try:
        run.journal.leftovers_after = run.ctx.proxies.leftovers()
    except Exception as exc:
        run.journal.leftovers_after = [f"could not read Toxiproxy back: {exc}"]
    run.ctx.after_rollback()
