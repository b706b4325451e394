"""In-memory state of one execution: the source the DB rows are written from.

Keeping it in memory lets an execution carry on (and time out) while the database is
unreachable; every write is a full snapshot of a row, so a late write after a heal is correct.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


TERMINAL = ("SUCCESS", "FAILED", "FAILED_AFTER_RETRIES", "TIMEOUT")


def timeout_message(timeout_s: int, fault) -> str:
    if fault("timeout_wording"):
        return f"WorkflowExecutionError: execution took too long (limit {timeout_s}s)"
    return f"WorkflowExecutionError: Workflow exceeded maximum execution time of {timeout_s} seconds"


@dataclass
class StepRec:
    position: int
    name: str
    definition: dict
    status: str = "PENDING"
    duration_s: float = 0.0
    attempts: int = 0
    output: Any = None
    error: str | None = None
    started_at: float | None = None  # twin time


@dataclass
class ExecState:
    id: str
    workflow_id: str
    workspace_id: str
    correlation_id: str
    input: dict
    timeout_s: int
    retry_policy: dict
    started_at: float               # twin time
    steps: list[StepRec]
    status: str = "RUNNING"
    error: str | None = None
    finished_at: float | None = None
    context_mb: float = 0.0         # size of the execution context (MEM-01)
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_rows(cls, execution: dict, workflow: dict, default_timeout_s: int) -> "ExecState":
        steps = [
            StepRec(position=i, name=str(s.get("name") or f"step_{i + 1}"), definition=s)
            for i, s in enumerate(workflow.get("steps") or [])
        ]
        return cls(
            id=execution["id"], workflow_id=execution["workflow_id"],
            workspace_id=execution["workspace_id"], correlation_id=execution["correlation_id"],
            input=execution.get("input") or {},
            timeout_s=int(workflow.get("timeout_s") or default_timeout_s),
            retry_policy=workflow.get("retry_policy") or {},
            started_at=float(execution["started_at"]), steps=steps,
        )

    @property
    def deadline(self) -> float:
        return self.started_at + self.timeout_s

    @property
    def ids(self) -> dict:
        """Fields every log line about this execution carries."""
        return {"workflow_id": self.workflow_id, "execution_id": self.id,
                "workspace_id": self.workspace_id, "correlation_id": self.correlation_id}

    def mark_timeout(self, now: float, fault) -> None:
        """WF-01/02: running step TIMEOUT with its duration so far, later steps SKIPPED (0 s)."""
        self.status, self.finished_at = "TIMEOUT", now
        self.error = timeout_message(self.timeout_s, fault)
        running = [s for s in self.steps if s.status == "RUNNING"]
        pending = [s for s in self.steps if s.status == "PENDING"]
        current = running[0] if running else (pending.pop(0) if pending else None)
        if current is not None:
            current.status, current.error = "TIMEOUT", self.error
            current.duration_s = max(0.0, now - (current.started_at or now))
        for step in pending:
            step.status = "SKIPPED"
            # the fault makes skipped steps look as if they ran for a while
            step.duration_s = 1.0 if fault("skipped_nonzero_duration") else 0.0

    def skip_rest(self, after: int) -> None:
        for step in self.steps[after + 1:]:
            if step.status == "PENDING":
                step.status, step.duration_s = "SKIPPED", 0.0
