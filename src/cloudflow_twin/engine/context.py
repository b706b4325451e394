"""What a step executor gets: its definition, attempt number, and twin-time helpers."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from . import store
from .state import ExecState, StepRec

TWIN_POLL_S = 0.05  # how often a twin-time wait looks at the clock (advance ends it promptly)


@dataclass
class StepContext:
    rt: object
    state: ExecState
    step: StepRec
    attempt: int
    duration_override: float | None = None  # a step whose nominal length is known says so

    @property
    def spec(self) -> dict:
        return self.step.definition

    async def twin_sleep(self, seconds: float, on_progress=None) -> None:
        """Wait `seconds` of twin time; an advance of the twin clock ends the wait at once.

        on_progress(elapsed_twin_s) is awaited on every poll (checkpointing uses it).
        """
        start = self.rt.now()
        while True:
            elapsed = self.rt.now() - start
            if on_progress is not None:
                await on_progress(min(elapsed, seconds))
            if elapsed >= seconds:
                return
            await asyncio.sleep(min(TWIN_POLL_S, seconds - elapsed))

    async def report(self, output: dict) -> None:
        """Publish partial output while the step still runs (progress, checkpoints)."""
        self.step.output = output
        await store.save_step(self.rt, self.state, self.step)
