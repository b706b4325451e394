"""Locust as one master and two workers on loopback gives the same verdicts as one process."""
from __future__ import annotations

from cloudflow_checks.load import scenarios


def test_master_and_two_workers_give_the_same_verdicts(load_context, tmp_path):
    single = scenarios.rate_windows(load_context, "standard", tmp_path / "single", shape="over-limit")
    load_context.workers = 2
    distributed = scenarios.rate_windows(load_context, "standard", tmp_path / "distributed", shape="over-limit")
    records = sorted(p.name for p in (tmp_path / "distributed" / "records").glob("records-worker-*.jsonl"))
    assert len(records) == 2, f"expected one record file per worker, found {records}"
    as_table = lambda outcome: {v.name: v.passed for v in outcome.verdicts}   # noqa: E731
    assert as_table(distributed) == as_table(single), (
        "\n".join(["single:", *single.lines(), "distributed:", *distributed.lines()]))
    assert single.passed, single.failure_text()
