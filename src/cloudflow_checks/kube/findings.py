"""Structured results of the Kubernetes checks, so a report can say what was wrong."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class Finding:
    """One thing found wrong.

    :param behaviour: catalogue ID (``K8S-01`` ...).
    :param check: which check found it (``deployment_availability`` ...).
    :param subject: what it is about, ``deployment/cloudflow-api`` or
        ``pod/cloudflow-api-7d4f.../container/api``.
    :param problem: short machine-readable code (``not_ready``, ``oomkilled`` ...).
    :param message: one human sentence.
    :param details: the observed values behind it.
    """

    behaviour: str
    check: str
    subject: str
    problem: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["details"] = dict(self.details)
        return d


@dataclass
class CheckResult:
    """What a check looked at and what it found; ``ok`` when nothing was found.

    A check that found nothing to look at reports that as a finding
    (``nothing_to_check``): nothing passes silently.
    """

    behaviour: str
    check: str
    namespace: str
    checked: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def problems(self, problem: str | None = None) -> list[Finding]:
        return [f for f in self.findings if problem is None or f.problem == problem]

    def about(self, subject_prefix: str) -> list[Finding]:
        return [f for f in self.findings if f.subject.startswith(subject_prefix)]

    def summary(self) -> str:
        if self.ok:
            return f"{self.behaviour} {self.check}: ok ({len(self.checked)} checked in {self.namespace})"
        lines = [f"{self.behaviour} {self.check}: {len(self.findings)} problem(s) in {self.namespace}"]
        lines += [f"  - {f.subject}: {f.message}" for f in self.findings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "behaviour": self.behaviour,
            "check": self.check,
            "namespace": self.namespace,
            "ok": self.ok,
            "checked": list(self.checked),
            "findings": [f.to_dict() for f in self.findings],
        }

    def __str__(self) -> str:
        return self.summary()
