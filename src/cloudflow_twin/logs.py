"""JSON log lines (README "Conventions") to TWIN_STATE_DIR/logs/<process>.log, one object a line.

Fields: timestamp (RFC 3339 UTC, twin time), level, component, message, correlation_id (from the
contextvar set per request/execution), context {workspace_id, workflow_id, execution_id}, error_type
on errors, workflow_id at top level when known, plus any extra keyword fields.
Usage: `configure("api")` once per process, then `log = get_logger("auth"); log.warn("...", x=1)`.
Fault switches LOG-01 `logs_plaintext` and LOG-02 `no_correlation_id` are honoured here.
"""
from __future__ import annotations

import asyncio
import contextvars
import json
import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from . import control

CONTEXT_KEYS = ("workspace_id", "workflow_id", "execution_id")
LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)
log_context: contextvars.ContextVar[dict] = contextvars.ContextVar("log_context", default={})

_lock = threading.Lock()
_file = None
_process = "twin"


def configure(process: str, state_dir: Path | str | None = None) -> Path | None:
    """Open TWIN_STATE_DIR/logs/<process>.log for appending; returns its path (None: stderr only)."""
    global _file, _process
    _process = process
    state_dir = state_dir or os.environ.get("TWIN_STATE_DIR")
    if not state_dir:
        return None
    path = Path(state_dir) / "logs" / f"{process}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    _file = open(path, "a", buffering=1 << 16, encoding="utf-8")
    return path


def log_path(process: str, state_dir: Path | str) -> Path:
    return Path(state_dir) / "logs" / f"{process}.log"


_ts_cache = [None, ""]


def format_ts(epoch: float) -> str:
    """RFC 3339 UTC with milliseconds, e.g. 2026-01-24T10:30:00.123Z."""
    whole = int(epoch)
    if _ts_cache[0] != whole:
        _ts_cache[0], _ts_cache[1] = whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{_ts_cache[1]}.{int((epoch - whole) * 1000):03d}Z"


@contextmanager
def bind(corr_id: str | None = None, **context):
    """Set the correlation id and/or context ids for the enclosed code (contextvars: task-local)."""
    tokens = []
    if corr_id is not None:
        tokens.append((correlation_id, correlation_id.set(corr_id)))
    if context:
        merged = {**log_context.get(), **{k: v for k, v in context.items() if v is not None}}
        tokens.append((log_context, log_context.set(merged)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def emit(level: str, component: str, message: str, **fields) -> None:
    """Write one log line; extra fields named in CONTEXT_KEYS go into `context`."""
    ctx = dict(log_context.get())
    for key in CONTEXT_KEYS:
        if key in fields:
            value = fields.pop(key)
            if value is not None:
                ctx[key] = value
    record = {"timestamp": format_ts(control.twin_now()), "level": level, "component": component,
              "message": message}
    active = control.enabled_faults()
    corr = fields.pop("correlation_id", None) or correlation_id.get()
    if corr and "no_correlation_id" not in active:
        record["correlation_id"] = corr
    if ctx:
        record["context"] = ctx
        if "workflow_id" in ctx:
            record["workflow_id"] = ctx["workflow_id"]
    record.update({k: v for k, v in fields.items() if v is not None})
    if "logs_plaintext" in active:
        extras = " ".join(f"{k}={v}" for k, v in record.items()
                          if k not in ("timestamp", "level", "component", "message"))
        line = f"{record['timestamp']} {level} [{component}] {message} {extras}".rstrip() + "\n"
    else:
        line = json.dumps(record, default=str, separators=(",", ":")) + "\n"
    out = _file or sys.stderr
    with _lock:
        try:
            out.write(line)
        except (OSError, ValueError):
            pass  # logging must never break a request
    _schedule_flush(out)


_flush_pending_since = 0.0  # monotonic time a batched flush was scheduled; 0 when none


def _flush(out) -> None:
    global _flush_pending_since
    _flush_pending_since = 0.0
    with _lock:
        try:
            out.flush()
        except (OSError, ValueError):
            pass


def _schedule_flush(out) -> None:
    """Flush at once outside an event loop; inside one, batch the lines of the next ~20 ms
    into one write (many 429 log lines under load would otherwise cost a syscall each).
    A scheduled flush that never ran (its loop stopped) is replaced after 0.5 s."""
    global _flush_pending_since
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        _flush(out)
        return
    now = time.monotonic()
    if _flush_pending_since and now - _flush_pending_since < 0.5:
        return
    _flush_pending_since = now
    loop.call_later(0.02, _flush, out)


def flush() -> None:
    """Write out buffered lines now (call before a process exits)."""
    _flush(_file or sys.stderr)


class Logger:
    """Component logger: `.info(msg, **fields)`, `.warn`, `.error(msg, error_type=..., **fields)`."""

    __slots__ = ("component",)

    def __init__(self, component: str):
        self.component = component

    def trace(self, message: str, **fields) -> None:
        emit("TRACE", self.component, message, **fields)

    def debug(self, message: str, **fields) -> None:
        emit("DEBUG", self.component, message, **fields)

    def info(self, message: str, **fields) -> None:
        emit("INFO", self.component, message, **fields)

    def warn(self, message: str, **fields) -> None:
        emit("WARN", self.component, message, **fields)

    warning = warn

    def error(self, message: str, error_type: str | None = None, **fields) -> None:
        emit("ERROR", self.component, message, error_type=error_type, **fields)

    def fatal(self, message: str, error_type: str | None = None, **fields) -> None:
        emit("FATAL", self.component, message, error_type=error_type, **fields)


def get_logger(component: str) -> Logger:
    """A logger for one component (api|auth|database|workflows|ratelimit|engine|webhooks|partner)."""
    return Logger(component)
