"""What the experiment saw: timed probe samples, a background prober, and the measures over them
(time to detect, time to recover, p95), all computed from the samples, never hand-set.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable

import httpx


@dataclass(frozen=True)
class Sample:
    series: str           # which probe (steady, burst, health, ...)
    t: float              # run-relative seconds at the start of the request
    ms: float             # latency
    status: int | None    # HTTP status; None: no answer (timeout or transport error)
    ok: bool              # the probe's own verdict (steady state held for this request)
    message: str = ""     # error message or outcome word, for detectors and the journal
    cache: str = ""       # X-Cache when the endpoint reports one

    def to_json(self) -> dict:
        return asdict(self)


class Recorder:
    """Thread-safe list of samples against one run clock; bounded in count."""

    MAX = 20000

    def __init__(self, t0: float | None = None):
        self.t0 = time.monotonic() if t0 is None else t0
        self._lock = threading.Lock()
        self._samples: list[Sample] = []

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 3)

    def add(self, sample: Sample) -> Sample:
        with self._lock:
            if len(self._samples) < self.MAX:
                self._samples.append(sample)
        return sample

    def samples(self, series: str | None = None) -> list[Sample]:
        with self._lock:
            return [s for s in self._samples if series is None or s.series == series]

    def timed(self, series: str, request: Callable[[], httpx.Response],
              judge: Callable[[httpx.Response, float], bool] | None = None) -> tuple[httpx.Response | None, Sample]:
        """Run one request, record its sample; no answer is a sample with status None, not an error."""
        t = self.now()
        start = time.perf_counter()
        try:
            response = request()
        except httpx.TimeoutException as exc:
            ms = (time.perf_counter() - start) * 1000
            return None, self.add(Sample(series, t, round(ms, 1), None, False, f"timeout: {type(exc).__name__}"))
        except httpx.HTTPError as exc:
            ms = (time.perf_counter() - start) * 1000
            return None, self.add(Sample(series, t, round(ms, 1), None, False, f"{type(exc).__name__}: {exc}"[:200]))
        ms = (time.perf_counter() - start) * 1000
        ok = judge(response, ms) if judge else response.status_code < 400
        return response, self.add(Sample(series, t, round(ms, 1), response.status_code, ok,
                                         _message(response), response.headers.get("X-Cache", "")))


def _message(response: httpx.Response) -> str:
    if response.status_code < 400:
        return ""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        parts = [str(body.get(k)) for k in ("message", "detail") if body.get(k)]
        return " | ".join(parts)[:300]
    return str(body)[:200]


class Prober:
    """Polls one steady-state probe in the background, at an interval, bounded in time and count.

    `watch(sample)` sees every sample (the blast-radius guard); the prober never raises.
    """

    def __init__(self, recorder: Recorder, probe: Callable[[], object], *, interval_s: float,
                 max_duration_s: float, watch: Callable[[Sample], None] | None = None):
        self.recorder, self.probe, self.interval_s = recorder, probe, interval_s
        self.max_duration_s, self.watch = max_duration_s, watch
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chaos-prober", daemon=True)
        self.errors: list[str] = []

    def __enter__(self) -> "Prober":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=40)

    def _loop(self) -> None:
        deadline = time.monotonic() + self.max_duration_s
        max_count = int(self.max_duration_s / self.interval_s) + 1
        for _ in range(max_count):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            started = time.monotonic()
            try:
                _, sample = self.probe()
                if self.watch:
                    self.watch(sample)
            except Exception as exc:  # a broken probe must not kill the run, but it is reported
                if len(self.errors) < 20:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))


# --- measures -----------------------------------------------------------------------------
def first_after(samples: list[Sample], t: float, predicate: Callable[[Sample], bool]) -> Sample | None:
    for s in sorted(samples, key=lambda s: s.t):
        if s.t >= t and predicate(s):
            return s
    return None


def time_to_detect(samples: list[Sample], injected_at: float, detects: Callable[[Sample], bool]) -> float | None:
    """Seconds from the injection to the end of the first request that showed the documented signal."""
    hit = first_after(samples, injected_at, detects)
    return None if hit is None else round(hit.t + hit.ms / 1000 - injected_at, 3)


def time_to_recover(samples: list[Sample], healed_at: float, *, stable: int) -> float | None:
    """Seconds from the heal to the first of `stable` consecutive good samples that start after it."""
    after = sorted((s for s in samples if s.t >= healed_at), key=lambda s: s.t)
    run = 0
    for i, s in enumerate(after):
        run = run + 1 if s.ok else 0
        if run == stable:
            first = after[i - stable + 1]
            return round(max(0.0, first.t - healed_at), 3)
    return None


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(pct / 100 * len(ordered))   # nearest-rank percentile
    return ordered[max(1, rank) - 1]
