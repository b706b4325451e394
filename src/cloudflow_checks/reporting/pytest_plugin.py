"""The reporting side of the suite's pytest plugin (entry point `cloudflow_reporting` in pytest11).

- every check's HTTP exchanges go to <run>/exchanges.jsonl (per endpoint error rates in the
  incident report); a failing check gets its exchanges attached to Allure, redacted;
- the `report_pictures` fixture: a folder where a chaos or load check saves PNGs, all attached to
  its Allure entry and copied to <run>/pictures/ at the end of the check;
- secrets registered in xdist workers reach the controller (workeroutput, never a file), and at the
  very end of the session every text file of the run folder is swept through redact;
- the incident report is rewritten with the resolved target in hand (log excerpts, rollout history).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from .. import exchanges, redact
from . import attachments, incident

_WORKER_SECRETS = "cloudflow_secrets"
_PARTS = "exchanges.parts"


def _run_dir(config) -> Path | None:
    value = config.getoption("cf_run_dir", None)
    return Path(value) if value else None


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def _behaviours(item) -> list[str]:
    return [i for mark in item.iter_markers("behaviour") for i in mark.args]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not _behaviours(item):
        return
    if report.failed and report.when in ("setup", "call"):
        seen = exchanges.snapshot()
        try:
            attachments.attach_exchanges(seen, exchanges.failing(seen))
        except Exception as exc:  # an attachment must never turn a result into an error
            warnings.warn(pytest.PytestWarning(f"cloudflow: allure attachment failed: {exc}"))
    if report.when == "teardown":
        _record_exchanges(item)


def _record_exchanges(item) -> None:
    run_dir = _run_dir(item.config)
    seen = exchanges.snapshot()
    if run_dir is None or not seen:
        return
    worker = getattr(item.config, "workerinput", {}).get("workerid", "main")
    parts = run_dir / _PARTS
    parts.mkdir(parents=True, exist_ok=True)
    with (parts / f"{worker}.jsonl").open("a") as out:
        for row in attachments.exchange_rows(seen):
            out.write(json.dumps({"nodeid": item.nodeid, **row}) + "\n")


@pytest.fixture
def report_pictures(request, tmp_path):
    """A folder for the check's pictures; every PNG in it is attached to the check's Allure entry."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    yield folder
    for png in sorted(folder.glob("*.png")):
        attachments.attach_picture(png, run_dir=_run_dir(request.config))


@pytest.hookimpl(hookwrapper=True)
def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if _is_worker(config):
        # xdist sends workeroutput to the controller after the session: secrets travel in memory
        config.workeroutput[_WORKER_SECRETS] = redact.registered()
        yield
        return
    run_dir = _run_dir(config)
    if run_dir is not None:
        _merge_exchanges(run_dir)     # before the summary (and incident report) are written
    yield                             # the suite's plugin writes summary + incident; junitxml writes its file
    if run_dir is not None and run_dir.is_dir():
        _finish_run_folder(config, run_dir)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    redact.register(*getattr(node, "workeroutput", {}).get(_WORKER_SECRETS, []))


def _merge_exchanges(run_dir: Path) -> None:
    parts = run_dir / _PARTS
    if not parts.is_dir():
        return
    with (run_dir / incident.EXCHANGES_FILE).open("a") as out:
        for part in sorted(parts.glob("*.jsonl")):
            out.write(redact.text(part.read_text()))
            part.unlink()
    parts.rmdir()


def _finish_run_folder(config, run_dir: Path) -> None:
    """With the target in hand, the incident report gets log excerpts and rollout history; then
    every text file of the run folder is swept through redact (junit.xml, allure-results too)."""
    state = getattr(config, "_cloudflow", None)
    target = getattr(state, "target", None)
    summary_file = run_dir / "summary.json"
    if target is not None and summary_file.is_file():
        summary = json.loads(summary_file.read_text())
        if summary["verdict"]["gate"] == "fail":
            incident.write(run_dir, summary, target)
    redact.sweep(run_dir)
