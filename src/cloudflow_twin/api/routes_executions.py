"""Executions: read, list, retry history, log lines (WF-01..05, LOG-02/03)."""
from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, Request

from .. import logs
from .common import ok, principal, require, twin
from .errors import ApiError

router = APIRouter(prefix="/api/v1/executions", tags=["executions"])
_LOG_SCAN_BYTES = 32 * 1024 * 1024
_EXEC_COLUMNS = ("e.id, e.workflow_id, e.workspace_id, e.status, e.error, e.correlation_id, e.triggered_by, "
                 "e.created_at, e.started_at, e.finished_at, w.environment")


async def load_execution(state, exec_id: str) -> dict:
    row = await state.pool.fetch_one(f"SELECT {_EXEC_COLUMNS} FROM executions e JOIN workflows w "
                                     "ON w.id = e.workflow_id WHERE e.id = %s", (exec_id,))
    if row is None:
        raise ApiError(404, "not_found", f"execution {exec_id} not found")
    return row


def _public(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "environment"}


@router.get("")
async def list_executions(request: Request, workflow_id: str | None = None, status: str | None = None,
                          limit: int = 100):
    state = twin(request)
    ws = principal(request).workspace_id
    if workflow_id:
        wf = await state.pool.fetch_one("SELECT workspace_id FROM workflows WHERE id = %s", (workflow_id,))
        if wf is None:
            raise ApiError(404, "not_found", f"workflow {workflow_id} not found")
        ws = wf["workspace_id"]
    require(request, "read", ws)
    sql = f"SELECT {_EXEC_COLUMNS} FROM executions e JOIN workflows w ON w.id = e.workflow_id WHERE e.workspace_id = %s"
    params: list = [ws]
    if workflow_id:
        sql += " AND e.workflow_id = %s"
        params.append(workflow_id)
    if status:
        sql += " AND e.status = %s"
        params.append(status.upper())
    params.append(max(1, min(limit, 1000)))
    rows = await state.pool.fetch_all(sql + " ORDER BY e.created_at DESC LIMIT %s", params)
    return ok({"executions": [_public(r) for r in rows]})


@router.get("/{exec_id}")
async def get_execution(exec_id: str, request: Request):
    state = twin(request)
    row = await load_execution(state, exec_id)
    require(request, "read", row["workspace_id"], row["environment"])
    steps = await state.pool.fetch_all(
        "SELECT name, status, duration_s, attempts, output, error, started_at FROM execution_steps "
        "WHERE execution_id = %s ORDER BY position", (exec_id,))
    return ok({**_public(row), "steps": steps})


@router.get("/{exec_id}/retries")
async def get_retries(exec_id: str, request: Request):
    state = twin(request)
    row = await load_execution(state, exec_id)
    require(request, "read", row["workspace_id"], row["environment"])
    attempts = await state.pool.fetch_all(
        "SELECT step, attempt, status, error, delay_ms, started_at FROM execution_attempts "
        "WHERE execution_id = %s ORDER BY started_at, step, attempt", (exec_id,))
    return ok({"execution_id": exec_id, "attempts": attempts, "final_status": row["status"]})


def _grep(paths: list[Path], needle: str, limit: int = 2000) -> list[str]:
    lines: list[str] = []
    for path in paths:
        try:
            with open(path, "rb") as fh:
                size = fh.seek(0, 2)
                fh.seek(max(0, size - _LOG_SCAN_BYTES))
                data = fh.read()
        except OSError:
            continue
        token = needle.encode()
        for raw in data.splitlines():
            if token in raw:
                lines.append(raw.decode("utf-8", "replace"))
    return lines[-limit:]


@router.get("/{exec_id}/logs")
async def get_logs(exec_id: str, request: Request):
    state = twin(request)
    row = await load_execution(state, exec_id)
    require(request, "view_logs", row["workspace_id"], row["environment"])
    paths = [logs.log_path(p, state.settings.state_dir) for p in ("engine", "api")]
    logs.flush()
    lines = await asyncio.to_thread(_grep, paths, exec_id)
    return ok({"execution_id": exec_id, "lines": lines})
