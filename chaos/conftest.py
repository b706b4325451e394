"""Chaos experiments as pytest tests: each test runs one experiment (src/cloudflow_checks/chaos/)
against the target, holding it exclusively; the journal (JSON) and timeline (PNG) go to
<--cf-run-dir>/chaos/ (or a temporary folder) and are attached to the report.

Run one alone: `pytest chaos/test_db_pool_exhaustion.py`; or `cloudflow-checks gameday --experiment NAME`.
"""
from __future__ import annotations

from pathlib import Path

import allure
import pytest

from cloudflow_checks.chaos import gameday
from cloudflow_checks.chaos.context import ChaosContext, MissingCapability
from cloudflow_checks.chaos.sweep import sweep_target


@pytest.fixture
def run_experiment(cf_target, spec, exclusive_target, request, tmp_path_factory):
    """`run_experiment(ExperimentClass)` -> journal; sweeps leftovers first and reports them."""
    run_dir = request.config.getoption("cf_run_dir")
    out_dir = Path(run_dir) / "chaos" if run_dir else tmp_path_factory.mktemp("chaos")
    # First, before anything logs in (a partition left by a killed run would fail the login);
    # exclusive_target is held, so the partner stub's mode and the clock are ours to put back.
    sweep = sweep_target(cf_target, spec)
    if sweep:
        request.node.user_properties.append(("chaos_sweep_at_start", sweep))
    try:
        ctx = ChaosContext.build(cf_target, spec)
    except MissingCapability as exc:
        pytest.skip(str(exc))

    def run(experiment_cls, **overrides):
        experiment = experiment_cls()
        reason = gameday.missing_for(experiment, ctx)
        if reason:
            pytest.skip(reason)
        journal, outcome = gameday.record(experiment, ctx, out_dir, sweep=sweep, overrides=overrides or None)
        request.node.user_properties.append(("chaos_journal", str(outcome.journal)))
        allure.attach.file(str(outcome.journal), name=f"{experiment.name}.json", attachment_type=allure.attachment_type.JSON)
        if outcome.picture:
            allure.attach.file(str(outcome.picture), name=f"{experiment.name}.png", attachment_type=allure.attachment_type.PNG)
        if journal.status == "interrupted":
            raise KeyboardInterrupt(journal.error)
        return journal

    yield run
    ctx.close()
