"""Workflows CRUD (+ PATCH with timeout reason, WF-03), execute and execute-batch (RATE-02/04),
circuit-breaker status. Executions are inserted PENDING with their steps; the engine runs them."""
from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Request
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field
from starlette.responses import Response

from .. import control, faults, logs
from .common import new_id, ok, principal, require, twin
from .errors import ApiError

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])
log = logs.get_logger("workflows")
_COLUMNS = ("id, workspace_id, name, environment, timeout_s, timeout_reason, retry_policy, steps, trigger, "
            "created_by, created_at, updated_at")


class WorkflowBody(BaseModel):
    name: str = Field(min_length=1)
    environment: Literal["development", "production"] = "development"
    timeout: int = Field(default=3600, gt=0)
    retry_policy: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = Field(default_factory=list)
    trigger: dict[str, Any] | None = None
    workspace_id: str | None = None


class WorkflowPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1)
    environment: Literal["development", "production"] | None = None
    timeout: int | None = Field(default=None, gt=0)
    retry_policy: dict[str, Any] | None = None
    steps: list[dict[str, Any]] | None = None
    trigger: dict[str, Any] | None = None
    reason: str | None = None


class ExecuteBody(BaseModel):
    input: dict[str, Any] = Field(default_factory=dict)


class BatchBody(BaseModel):
    workflow_ids: list[str] = Field(min_length=1, max_length=100)
    batch_size: int = Field(default=5, gt=0)
    input: dict[str, Any] = Field(default_factory=dict)


def default_retry_policy(settings) -> dict:
    return {"max_attempts": settings.retry_max_attempts, "initial_delay_ms": settings.retry_initial_delay_ms,
            "backoff_multiplier": settings.retry_backoff_multiplier, "max_delay_ms": settings.retry_max_delay_ms,
            "retry_on_errors": list(settings.retry_on_errors)}


def _check_steps(steps: list[dict]) -> list[dict]:
    out = []
    for i, step in enumerate(steps):
        if not isinstance(step.get("type"), str):
            raise ApiError(422, "validation_error", f"steps[{i}]: field 'type' is required")
        out.append({**step, "name": step.get("name") or f"step_{i + 1}"})
    if len({s["name"] for s in out}) != len(out):
        raise ApiError(422, "validation_error", "steps: step names must be unique")
    return out


def as_json(row: dict) -> dict:
    wf = dict(row)
    wf["timeout"] = wf.pop("timeout_s")
    return wf


async def load_workflow(state, wf_id: str, conn=None) -> dict:
    row = await state.pool.fetch_one(f"SELECT {_COLUMNS} FROM workflows WHERE id = %s", (wf_id,), conn=conn)
    if row is None:
        raise ApiError(404, "not_found", f"workflow {wf_id} not found")
    return row


@router.post("", status_code=201)
async def create_workflow(body: WorkflowBody, request: Request):
    state = twin(request)
    ws = body.workspace_id or principal(request).workspace_id
    who = require(request, "create", ws, body.environment)
    policy = {**default_retry_policy(state.settings), **(body.retry_policy or {})}
    now = control.twin_now()
    wf_id = new_id("wf_")
    row = await state.pool.fetch_one(
        f"INSERT INTO workflows (id, workspace_id, name, environment, timeout_s, retry_policy, steps, trigger, "
        f"created_by, created_at, updated_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING {_COLUMNS}",
        (wf_id, ws, body.name, body.environment, body.timeout, Jsonb(policy), Jsonb(_check_steps(body.steps)),
         Jsonb(body.trigger) if body.trigger else None, who.sub, now, now))
    log.info(f"workflow {wf_id} created", workflow_id=wf_id, workspace_id=ws)
    return ok(as_json(row), 201)


@router.get("")
async def list_workflows(request: Request, workspace_id: str | None = None):
    state = twin(request)
    ws = workspace_id or principal(request).workspace_id
    require(request, "read", ws)
    if faults.is_on("slow_responses"):
        await asyncio.sleep(5.5)
    if faults.is_on("connection_leak"):
        await state.pool.leak_one()
    rows = await state.pool.fetch_all(
        f"SELECT {_COLUMNS} FROM workflows WHERE workspace_id = %s ORDER BY created_at DESC LIMIT 500", (ws,))
    return ok({"workflows": [as_json(r) for r in rows]})


@router.get("/{wf_id}")
async def get_workflow(wf_id: str, request: Request):
    row = await load_workflow(twin(request), wf_id)
    require(request, "read", row["workspace_id"], row["environment"])
    return ok(as_json(row))


@router.patch("/{wf_id}")
async def update_workflow(wf_id: str, body: WorkflowPatch, request: Request):
    state = twin(request)
    row = await load_workflow(state, wf_id)
    require(request, "update", row["workspace_id"], row["environment"])
    if body.environment and body.environment != row["environment"]:
        require(request, "update", row["workspace_id"], body.environment)
    changes: dict[str, Any] = {}
    if body.timeout is not None and body.timeout != row["timeout_s"]:
        if not (body.reason or "").strip():
            raise ApiError(422, "validation_error", "reason: a reason is required to change the timeout")
        if not faults.is_on("timeout_update_ignored"):
            changes["timeout_s"] = body.timeout
        changes["timeout_reason"] = body.reason
        log.info(f"workflow {wf_id} timeout {row['timeout_s']} -> {body.timeout}: {body.reason}", workflow_id=wf_id)
    for name in ("name", "environment"):
        if getattr(body, name) is not None:
            changes[name] = getattr(body, name)
    if body.retry_policy is not None:
        changes["retry_policy"] = Jsonb({**row["retry_policy"], **body.retry_policy})
    if body.steps is not None:
        changes["steps"] = Jsonb(_check_steps(body.steps))
    if "trigger" in body.model_fields_set:
        changes["trigger"] = Jsonb(body.trigger) if body.trigger else None
    changes["updated_at"] = control.twin_now()
    sets = ", ".join(f"{k} = %s" for k in changes)
    row = await state.pool.fetch_one(f"UPDATE workflows SET {sets} WHERE id = %s RETURNING {_COLUMNS}",
                                     (*changes.values(), wf_id))
    return ok(as_json(row))


@router.delete("/{wf_id}", status_code=204)
async def delete_workflow(wf_id: str, request: Request):
    state = twin(request)
    row = await load_workflow(state, wf_id)
    require(request, "delete", row["workspace_id"], row["environment"])
    await state.pool.execute("DELETE FROM workflows WHERE id = %s", (wf_id,))
    return Response(status_code=204)


async def _enqueue(state, workflows: list[dict], payload: dict, corr: str | None) -> list[str]:
    """Insert PENDING executions (+ their steps) under the workspace's concurrency cap (RATE-02)."""
    ws = workflows[0]["workspace_id"]
    limits = await state.limits_for(ws)
    lock = state.exec_locks.setdefault(ws, asyncio.Lock())
    async with lock, state.pool.connection() as conn:
        cap = limits.concurrent_workflows
        if cap is not None and not faults.is_on("concurrency_cap_off"):
            row = await state.pool.fetch_one("SELECT count(*) AS n FROM executions WHERE workspace_id = %s "
                                             "AND status IN ('PENDING', 'RUNNING')", (ws,), conn=conn)
            if row["n"] + len(workflows) > cap:
                raise ApiError(429, "concurrent_workflow_limit_exceeded",
                               f"Concurrent workflow limit of {cap} reached.", headers={"Retry-After": "1"},
                               running_workflows=row["n"], limit=cap)
        ids = []
        async with conn.transaction():
            now = control.twin_now()
            for wf in workflows:
                exec_id = new_id("exec_")
                await state.pool.execute(
                    "INSERT INTO executions (id, workflow_id, workspace_id, status, input, correlation_id, created_at) "
                    "VALUES (%s, %s, %s, 'PENDING', %s, %s, %s)",
                    (exec_id, wf["id"], wf["workspace_id"], Jsonb(payload), corr, now), conn=conn)
                steps = [(exec_id, i, s.get("name") or f"step_{i + 1}") for i, s in enumerate(wf["steps"])]
                if steps:
                    async with conn.cursor() as cur:
                        await cur.executemany("INSERT INTO execution_steps (execution_id, position, name) "
                                              "VALUES (%s, %s, %s)", steps)
                await state.pool.execute("SELECT pg_notify('cloudflow_executions', %s)", (exec_id,), conn=conn)
                log.info(f"execution {exec_id} queued", workflow_id=wf["id"], execution_id=exec_id)
                ids.append(exec_id)
    return ids


@router.post("/execute-batch", status_code=202)
async def execute_batch(body: BatchBody, request: Request):
    state = twin(request)
    workflows = [await load_workflow(state, wf_id) for wf_id in body.workflow_ids]
    for wf in workflows:
        require(request, "execute", wf["workspace_id"], wf["environment"])
    if len({wf["workspace_id"] for wf in workflows}) > 1:
        raise ApiError(422, "validation_error", "workflow_ids: all workflows must be in one workspace")
    if faults.is_on("batch_counts_each") and len(workflows) > 1:
        state.limiter.add(principal(request).workspace_id, control.twin_now(), len(workflows) - 1)
    ids = await _enqueue(state, workflows, body.input, logs.correlation_id.get())
    return ok({"executions": [{"execution_id": e, "workflow_id": wf["id"], "status": "PENDING"}
                              for e, wf in zip(ids, workflows)], "batch_size": body.batch_size}, 202)


@router.post("/{wf_id}/execute", status_code=202)
async def execute(wf_id: str, request: Request, body: ExecuteBody | None = None):
    state = twin(request)
    wf = await load_workflow(state, wf_id)
    require(request, "execute", wf["workspace_id"], wf["environment"])
    [exec_id] = await _enqueue(state, [wf], (body.input if body else {}), logs.correlation_id.get())
    return ok({"execution_id": exec_id, "workflow_id": wf_id, "status": "PENDING"}, 202)


@router.get("/{wf_id}/circuit-breakers")
async def circuit_breakers(wf_id: str, request: Request):
    state = twin(request)
    wf = await load_workflow(state, wf_id)
    require(request, "read", wf["workspace_id"], wf["environment"])
    rows = await state.pool.fetch_all("SELECT step, state, failures, opened_at FROM circuit_breakers "
                                      "WHERE workflow_id = %s ORDER BY step", (wf_id,))
    return ok(rows)
