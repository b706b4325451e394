"""Locust drives each rate-limit tier to its limits and past them; verdicts over every request.

Guide: Rate Limiting & Throttling > 429 Too Many Requests (Rate Limit Tiers, Error Response,
Checking Rate Limit Status); Performance Problems > Slow Query Performance (PERF-02 SLO).
Locust runs in subprocesses; the twin's clock is time-lapsed so a window passes in seconds.

One Locust run per tier and scenario, judged by one check per behaviour ID: a failure names the
behaviour that broke, and a run of one ID (`--cf-behaviour RATE-01`, as the selftest does) pays
for each run once.
"""
from __future__ import annotations

import allure
import pytest

from cloudflow_checks.load import scenarios
from cloudflow_checks.load.plan import Stage

pytestmark = [pytest.mark.destructive, pytest.mark.requires("provisioning", "clock_control")]

TIERS = ["free", "standard", "premium"]
# Premium's 1.5x is 125 req/s in real time, about what the twin serves here: no time-lapse for it,
# and one over-limit window instead of the whole 0.5x/1x/1.5x sweep, with a 12 s tail (the 30 s one
# of the named shape adds nothing at 42 req/s: the window's last 429s say Retry-After: 1).
SHAPES = {"free": "sweep", "standard": "sweep", "premium": "over-limit"}
STAGES = {"premium": [Stage(1.5, 1), Stage(0.5, 0.2)]}


@pytest.fixture(scope="module")
def runs() -> dict:
    """(tier, scenario) -> its Outcome, or the error that left it without a verdict."""
    return {}


@pytest.fixture
def run_of(runs, load_context, load_folder):
    """`run_of(tier, scenario)`: that run's outcome, run on first use by any check of this module."""
    start = {"rates": lambda tier, folder: scenarios.rate_windows(load_context, tier, folder, shape=SHAPES[tier],
                                                                  stages=STAGES.get(tier)),
             "concurrency": lambda tier, folder: scenarios.concurrency(load_context, tier, folder),
             "hourly": lambda tier, folder: scenarios.hourly(load_context, tier, folder)}

    def get(tier: str, scenario: str) -> scenarios.Outcome:
        key = (tier, scenario)
        if key not in runs:
            try:
                runs[key] = start[scenario](tier, load_folder.parent / f"{tier}-{scenario}")
            except Exception as exc:    # every check of this run reports it, none reruns it
                runs[key] = exc
        if isinstance(runs[key], Exception):
            raise runs[key]
        return runs[key]
    return get


def assert_verdicts_pass(outcome: scenarios.Outcome, behaviour: str) -> None:
    """The run's verdicts of `behaviour` pass; its verdicts and picture go to the report."""
    for name, kind in (("verdicts.md", allure.attachment_type.TEXT), (f"rate-{outcome.tier}.png", allure.attachment_type.PNG)):
        path = outcome.folder / name
        if path.is_file():
            allure.attach.file(str(path), name=name, attachment_type=kind)
    judged = outcome.of(behaviour)
    assert judged.passed, judged.failure_text()


@pytest.mark.behaviour("RATE-02")
@pytest.mark.parametrize("tier", TIERS)
def test_tier_gets_exactly_its_per_minute_limit(run_of, tier):
    """Rate Limit Tiers: offered 0.5x / 1x / 1.5x per minute, each window accepts min(offered,
    limit) exactly, and windows are a minute long (no double burst at an edge)."""
    assert_verdicts_pass(run_of(tier, "rates"), "RATE-02")


@pytest.mark.behaviour("RATE-01")
@pytest.mark.parametrize("tier", TIERS)
def test_tier_rejections_are_the_documented_429(run_of, tier):
    """Error Response: every rejection past the limit is the documented 429 with consistent headers,
    and waiting Retry-After seconds is enough for the next request to pass."""
    assert_verdicts_pass(run_of(tier, "rates"), "RATE-01")


@pytest.mark.behaviour("RATE-03")
@pytest.mark.parametrize("tier", TIERS)
def test_tier_remaining_falls_in_each_window(run_of, tier):
    """Checking Rate Limit Status: X-RateLimit-Remaining falls by one per counted request in a window."""
    assert_verdicts_pass(run_of(tier, "rates"), "RATE-03")


@pytest.mark.behaviour("PERF-02")
@pytest.mark.parametrize("tier", TIERS)
def test_tier_p95_under_the_slo_at_its_limit(run_of, tier):
    """PERF-02: at 1x the limit the p95 of accepted requests is under the SLO; no 5xx at all."""
    assert_verdicts_pass(run_of(tier, "rates"), "PERF-02")


@pytest.mark.behaviour("RATE-02")
@pytest.mark.parametrize("tier", TIERS)
def test_concurrent_workflow_cap_holds_under_a_burst(run_of, tier):
    """Rate Limit Tiers: Concurrent Workflows 5 / 50 / 200, exact under 1.5x simultaneous starts."""
    assert_verdicts_pass(run_of(tier, "concurrency"), "RATE-02")


@pytest.mark.behaviour("RATE-02")
def test_free_tier_hourly_cap_in_a_time_lapsed_hour(run_of):
    """Rate Limit Tiers: Free 1,000 requests per hour at 1.5x per minute, exactly."""
    assert_verdicts_pass(run_of("free", "hourly"), "RATE-02")


@pytest.mark.behaviour("RATE-01")
def test_free_tier_past_its_hourly_cap_gets_the_documented_429(run_of):
    """Rate Limit Tiers: past the hour's 1,000 requests, 429 as documented until the hour ends."""
    assert_verdicts_pass(run_of("free", "hourly"), "RATE-01")
