"""The suite's pytest plugin (registered through the `pytest11` entry point).

- markers: `behaviour(*ids)` names the catalogue IDs a check verifies; `requires(*capabilities)`
  skips a check, with the reason in the report, on a target that lacks them; `slow`.
- the target: resolved once per process; for `local` the twin's stack is started once per run
  (by the controller under xdist) and stopped at the end if this run started it.
- results: every check's outcome with its behaviour IDs, correlation ids and endpoints; with
  `--cf-run-dir` the run's summary.json / summary.md are written there once a check ran (none: no verdict).
"""
from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from . import exchanges, redact, results
from . import spec as spec_module
from .config import CAPABILITIES, ConfigError
from .reporting import summary as summary_module

# pytest_runtest_logreport gets no config argument: the running session's config, set at configure.
_CONFIG: dict = {}

# Checks in these top-level folders must name the behaviour they verify.
CHECK_ROOTS = ("checks", "chaos", "load")


def pytest_addoption(parser):
    group = parser.getgroup("cloudflow", "CloudFlow Check & Chaos Suite")
    group.addoption("--target", default=os.environ.get("CLOUDFLOW_TARGET", "local"),
                    help="target name from targets.yaml (default: local, the twin)")
    group.addoption("--targets-file", default=None, help="targets file (default: ./targets.yaml)")
    group.addoption("--cf-run-dir", default=None, help="write summary.json / summary.md here")
    group.addoption("--cf-profile", default="custom", help="profile name recorded in the summary")
    group.addoption("--cf-fail-on", default="SEV-2", choices=spec_module.SEVERITIES,
                    help="the gate fails on failures of this severity or worse (default SEV-2)")
    group.addoption("--cf-behaviour", action="append", default=[], metavar="ID",
                    help="run only checks that verify this behaviour ID (repeatable)")
    group.addoption("--allow-production", action="store_true",
                    help="allow chaos and load against a target marked production")


def pytest_configure(config):
    config.addinivalue_line("markers", "behaviour(*ids): catalogue IDs this check verifies")
    config.addinivalue_line("markers", "requires(*capabilities): target capabilities this check needs")
    config.addinivalue_line("markers", "slow: waits long on a target without clock control")
    config.addinivalue_line("markers", "destructive: injects faults or load (chaos, load)")
    config._cloudflow = _State(config)
    _CONFIG["config"] = config


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


class _State:
    def __init__(self, config):
        self.config = config
        self.target = None
        self.target_error: str | None = None
        self.started_stack = False
        self.collector = results.ResultCollector()
        self.started_at = datetime.now(timezone.utc)
        self.t0 = time.monotonic()

    def resolve_target(self, start_local: bool):
        from . import targets
        try:
            self.target, started = targets.resolve(self.config.getoption("target"),
                                                   self.config.getoption("targets_file"),
                                                   start_local=start_local)
            self.started_stack = started and not _is_worker(self.config)
            redact.register(*self.target.secrets())
        except ConfigError as exc:
            self.target_error = str(exc)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    # Under xdist the controller brings the local stack up once, before the workers start, and so
    # owns its shutdown; a plain run resolves the target lazily, at the first check that needs it.
    config = session.config
    if not _is_worker(config) and config.getoption("numprocesses", None):
        _state(config).resolve_target(start_local=True)


def _state(config) -> _State:
    return config._cloudflow


def _target(config):
    state = _state(config)
    if state.target is None and state.target_error is None:
        state.resolve_target(start_local=True)
    if state.target_error:
        pytest.exit(f"cloudflow: {state.target_error}", returncode=2)
    return state.target


def _behaviours(item) -> list[str]:
    ids: list[str] = []
    for mark in item.iter_markers("behaviour"):
        ids.extend(mark.args)
    return ids


def pytest_collection_modifyitems(session, config, items):
    spec = spec_module.load()
    problems = []
    rootdir = Path(str(config.rootpath))
    for item in items:
        ids = _behaviours(item)
        unknown = [i for i in ids if i not in spec.behaviours]
        if unknown:
            problems.append(f"{item.nodeid}: unknown behaviour IDs {unknown}")
        try:
            top = Path(str(item.path)).resolve().relative_to(rootdir).parts[0]
        except ValueError:
            top = ""
        if top in CHECK_ROOTS and not ids:
            problems.append(f"{item.nodeid}: a check must name its behaviour IDs (@pytest.mark.behaviour)")
        for mark in item.iter_markers("requires"):
            bad = set(mark.args) - CAPABILITIES
            if bad:
                problems.append(f"{item.nodeid}: unknown capabilities {sorted(bad)}")
    if problems:
        raise pytest.UsageError("cloudflow: " + "; ".join(problems))
    wanted = set(config.getoption("cf_behaviour"))
    if wanted:
        unknown = wanted - set(spec.behaviours)
        if unknown:
            raise pytest.UsageError(f"cloudflow: unknown behaviour IDs {sorted(unknown)}")
        keep = [item for item in items if wanted & set(_behaviours(item))]
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep
    # Chaos and load go to one xdist worker each, in file order: they share the target's faults.
    for item in items:
        if any(m.name == "destructive" for m in item.iter_markers()):
            item.add_marker(pytest.mark.xdist_group("destructive"))


def pytest_runtest_setup(item):
    exchanges.reset()
    needed = [c for mark in item.iter_markers("requires") for c in mark.args]
    if not needed:
        return
    target = _target(item.config)
    missing = [c for c in needed if not target.has(c)]
    if missing:
        pytest.skip(f"target {target.name} lacks capability {', '.join(missing)}")
    if any(m.name == "destructive" for m in item.iter_markers()) and target.production \
            and not item.config.getoption("allow_production"):
        pytest.skip(f"target {target.name} is marked production; pass --allow-production to inject faults")


# Fixtures that take the target's lock exclusively themselves (fixtures.py).
EXCLUSIVE_FIXTURES = {"clock", "exclusive_target", "partner"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Hold the target's shared lock over the check's whole protocol, so that session- and
    module-scoped fixtures (set up before any function-scoped one) are built under it too: a token
    minted while another process has the target's clock moved would be rejected once it is back."""
    if not _behaviours(item) or EXCLUSIVE_FIXTURES & set(item.fixturenames):
        yield
        return
    from .clock import TargetLock
    from .fixtures import _lock_folder
    with TargetLock(_lock_folder(_target(item.config))).shared():
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    ids = _behaviours(item)
    if not ids:
        return
    report.user_properties.append((results.PROPERTY, ids))
    if report.failed:
        seen = exchanges.failing(exchanges.snapshot())
        report.user_properties.append(("correlation_ids", sorted({e.correlation_id for e in seen if e.correlation_id})))
        report.user_properties.append(("endpoints", sorted({f"{e.method} {e.path} -> {e.status}" for e in seen})))


def pytest_runtest_logreport(report):
    # Under xdist the controller sees every worker's reports here too; the summary is built there.
    config = _CONFIG.get("config")
    if config is not None and not _is_worker(config):
        _state(config).collector.add(report)


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    state = _state(config)
    try:
        run_dir = config.getoption("cf_run_dir")
        ran = any(r.outcome != "skipped" for r in state.collector.results.values())
        if run_dir and not _is_worker(config) and ran:  # no check ran: no verdict (not a PASS)
            _write_summary(config, state, Path(run_dir))
    finally:
        if state.started_stack:
            from . import stack
            stack.down(state.target.state_dir)


def _write_summary(config, state: _State, run_dir: Path) -> None:
    target = state.target
    target_info = ({"name": target.name, "kind": target.kind, "base_url": target.base_url,
                    "production": target.production} if target else
                   {"name": config.getoption("target"), "kind": "unresolved", "base_url": None})
    now = datetime.now(timezone.utc)
    run = summary_module.RunInfo(
        run_id=run_dir.name, target=target_info, profile=config.getoption("cf_profile"),
        started_at=state.started_at.isoformat(timespec="seconds"),
        finished_at=now.isoformat(timespec="seconds"), duration_s=time.monotonic() - state.t0,
        fail_on=config.getoption("cf_fail_on"),
    )
    built = summary_module.build(spec_module.load(), state.collector.results.values(), run)
    summary_module.write(built, run_dir, target=state.target)


# -- fixtures ---------------------------------------------------------------------------------
from .fixtures import *  # noqa: E402,F401,F403  (fixtures are part of the plugin)
