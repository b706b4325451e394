"""The run's time line inside the Locust master: where twin time starts and how fast it goes.

Imported by the locustfile only (runs under gevent). With clock control, `start()` moves the twin
clock to the next window (or hour) boundary, and a greenlet steps the offset every 100 ms so that
twin time = T0 + speed x (wall - t0). Every step is logged (sent, acknowledged, offset) to
clock.jsonl, so the verdicts can bound each request's twin time exactly, whatever the jitter.
Without clock control twin time is taken as wall time and the run starts at once.
"""
from __future__ import annotations

import json
import math
import time
import urllib.request
from pathlib import Path

from .plan import Plan

STEP_S = 0.1


class Timelapse:
    def __init__(self, plan: Plan, log_path: Path):
        self.plan = plan
        self.log_path = log_path
        self.t0: float | None = None      # wall time of the run's start
        self.T0: float | None = None      # twin time at that moment
        self._stepper = None
        self._stopped = False
        self._log = None

    # -- control API ----------------------------------------------------------------------------
    def _call(self, method: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.plan.control_url.rstrip('/')}/_twin/clock", data=data,
                                         method=method, headers={"X-Twin-Admin-Token": self.plan.control_token,
                                                                 "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def _set_offset(self, offset: float) -> None:
        sent = time.time()
        self._call("POST", {"offset_s": offset})
        self._write({"t_sent": sent, "t_ack": time.time(), "offset": offset})

    def _write(self, entry: dict) -> None:
        if self._log is None:
            self._log = open(self.log_path, "a", buffering=1)
        self._log.write(json.dumps(entry) + "\n")

    # -- the time line --------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self.t0 is not None

    def start(self) -> None:
        if self.started:
            return
        if self.plan.control_url:
            clock = self._call("GET")
            align = self.plan.align_s
            # a little ahead so the jump is forward even if the call is slow
            self.T0 = math.ceil((clock["now"] + 0.5) / align) * align
            self.t0 = time.time()
            self._set_offset(self.T0 - self.t0)
        else:
            self.t0 = time.time()
            self.T0 = self.t0
        self._write({"start": True, "t0": self.t0, "T0": self.T0, "speed": self.plan.speed,
                     "clock_control": bool(self.plan.control_url)})
        if self.plan.control_url and self.plan.speed > 1:
            import gevent
            self._stepper = gevent.spawn(self._step_loop)

    def _step_loop(self) -> None:
        import gevent
        deadline = self.t0 + self.plan.max_duration_s
        while not self._stopped and time.time() < deadline:
            gevent.sleep(STEP_S)
            now = time.time()
            # the ideal time line: T0 + speed * (now - t0) = now + offset
            self._set_offset(self.T0 + self.plan.speed * (now - self.t0) - now)

    def twin_elapsed(self) -> float:
        """Twin seconds since the start on the ideal time line (0 before the start)."""
        if self.t0 is None:
            return 0.0
        return self.plan.speed * (time.time() - self.t0)

    def stop(self) -> None:
        self._stopped = True
        if self._stepper is not None:
            self._stepper.kill(block=False)
            self._stepper = None
        if self._log is not None:
            self._log.close()
            self._log = None
