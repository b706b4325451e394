"""The documented values of CloudFlow, keyed by behaviour ID (DESIGN.md house rule 2).

Checks read every expected number and wording through this module; the data lives in
spec/cloudflow-3.2.1.yaml, each entry with the guide section it comes from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

SEVERITIES = ("SEV-1", "SEV-2", "SEV-3", "SEV-4")
SPEC_FILE = "cloudflow-3.2.1.yaml"


@dataclass(frozen=True)
class Behaviour:
    id: str
    title: str
    guide: str
    severity: str
    scope: str
    remediation: str
    values: dict[str, Any] = field(default_factory=dict)
    tolerances: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        """A documented value; a KeyError names the behaviour so a typo is obvious."""
        try:
            return self.values[key]
        except KeyError:
            raise KeyError(f"{self.id} has no documented value {key!r}") from None

    def tolerance(self, key: str) -> Any:
        try:
            return self.tolerances[key]
        except KeyError:
            raise KeyError(f"{self.id} has no tolerance {key!r}") from None


@dataclass(frozen=True)
class Spec:
    guide_version: str
    guide_file: str
    behaviours: dict[str, Behaviour]
    suite: dict[str, Any]

    def __getitem__(self, behaviour_id: str) -> Behaviour:
        try:
            return self.behaviours[behaviour_id]
        except KeyError:
            raise KeyError(f"unknown behaviour ID {behaviour_id!r}") from None

    def ids(self, scope: str | None = None) -> list[str]:
        return [b.id for b in self.behaviours.values() if scope is None or b.scope == scope]


def parse(data: dict[str, Any]) -> Spec:
    behaviours = {}
    for bid, entry in data["behaviours"].items():
        severity = entry["severity"]
        if severity not in SEVERITIES:
            raise ValueError(f"{bid}: severity {severity!r} is not one of {SEVERITIES}")
        behaviours[bid] = Behaviour(
            id=bid,
            title=entry["title"],
            guide=entry["guide"],
            severity=severity,
            scope=entry["scope"],
            remediation=entry.get("remediation", ""),
            values=entry.get("values") or {},
            tolerances=entry.get("tolerances") or {},
        )
    return Spec(
        guide_version=str(data["guide"]["version"]),
        guide_file=data["guide"]["file"],
        behaviours=behaviours,
        suite=data.get("suite", {}),
    )


@lru_cache(maxsize=1)
def load() -> Spec:
    text = resources.files("cloudflow_checks").joinpath("spec", SPEC_FILE).read_text()
    return parse(yaml.safe_load(text))
