"""Shared control state in TWIN_STATE_DIR/control.json: twin clock offset and enabled fault switches.

The API writes the file atomically (temp file + rename); every process re-reads it when its
mtime changes (checked at most every 50 ms, so `twin_now()` stays cheap on hot paths). The state
lives in a file, not the database, so it survives database faults. Format:
`{"offset_s": float, "faults": [name, ...], "updated_at": real epoch}`.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

_RECHECK_S = 0.05

_path: Path | None = None
_env_faults: tuple[str, ...] = ()
_state: dict = {"offset_s": 0.0, "faults": []}
_faults: frozenset[str] = frozenset()
_sig: tuple | None = None
_checked_at = 0.0


def init(state_dir: Path | str, default_faults: tuple[str, ...] = ()) -> None:
    """Point this process at TWIN_STATE_DIR/control.json; `default_faults` apply while no file exists."""
    global _path, _env_faults, _sig, _checked_at
    _path = Path(state_dir) / "control.json"
    _env_faults = tuple(default_faults)
    _sig, _checked_at = None, 0.0
    _apply({"offset_s": 0.0, "faults": list(_env_faults)})
    _refresh(force=True)


def _ensure_path() -> Path | None:
    global _path
    if _path is None and os.environ.get("TWIN_STATE_DIR"):
        faults = tuple(f.strip() for f in os.environ.get("TWIN_FAULTS", "").split(",") if f.strip())
        init(os.environ["TWIN_STATE_DIR"], faults)
    return _path


def _apply(state: dict) -> None:
    global _state, _faults
    _state = {"offset_s": float(state.get("offset_s", 0.0)), "faults": list(state.get("faults", []))}
    _faults = frozenset(_state["faults"])


def _refresh(force: bool = False) -> None:
    global _sig, _checked_at
    now = time.monotonic()
    if not force and now - _checked_at < _RECHECK_S:
        return
    _checked_at = now
    path = _ensure_path()
    if path is None:
        return
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    sig = (st.st_mtime_ns, st.st_ino, st.st_size)
    if sig == _sig:
        return
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return  # a torn read cannot happen with rename, but never crash a hot path on it
    _sig = sig
    _apply(data)


def read() -> dict:
    """The current control state (a copy): offset_s and faults."""
    _refresh()
    return {"offset_s": _state["offset_s"], "faults": list(_state["faults"])}


def write(*, offset_s: float | None = None, faults: list[str] | None = None) -> dict:
    """Change offset and/or fault set, write control.json atomically, and return the new state."""
    path = _ensure_path()
    _refresh(force=True)
    state = {"offset_s": _state["offset_s"] if offset_s is None else float(offset_s),
             "faults": _state["faults"] if faults is None else sorted(set(faults)),
             "updated_at": time.time()}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".control.", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(state, fh)
        os.replace(tmp, path)
    _apply(state)
    _refresh(force=True)
    return read()


def offset_s() -> float:
    """Seconds added to the wall clock to get twin time."""
    _refresh()
    return _state["offset_s"]


def twin_now() -> float:
    """Twin time: wall clock (epoch seconds) plus the control offset."""
    _refresh()
    return time.time() + _state["offset_s"]


def enabled_faults() -> frozenset[str]:
    """Names of the fault switches currently on."""
    _refresh()
    return _faults
