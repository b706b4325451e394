"""Run profiles: which suites and which checks a run includes."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    paths: tuple[str, ...]
    markexpr: str
    description: str


PROFILES = {
    "smoke": Profile("smoke", ("checks",), "not slow",
                     "every synthetic check that needs no long wait (scheduled runs)"),
    "gate": Profile("gate", ("checks",), "",
                    "all synthetic checks, slow ones included (pre-release gate)"),
    "full": Profile("full", ("checks", "chaos", "load"), "",
                    "synthetic checks, chaos experiments and load (game day)"),
}
