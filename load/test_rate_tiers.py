"""Locust drives each rate-limit tier to its limits and past them; verdicts over every request.

Guide: Rate Limiting & Throttling > 429 Too Many Requests (Rate Limit Tiers, Error Response,
Checking Rate Limit Status); Performance Problems > Slow Query Performance (PERF-02 SLO).
Locust runs in subprocesses; the twin's clock is time-lapsed so a window passes in seconds.
"""
from __future__ import annotations

import allure
import pytest

from cloudflow_checks.load import scenarios

pytestmark = [pytest.mark.destructive, pytest.mark.requires("provisioning", "clock_control")]

# Premium's 1.5x is 125 req/s in real time, about what the twin serves here: no time-lapse for it,
# and one over-limit window (+ a short tail) instead of the whole 0.5x/1x/1.5x sweep.
SHAPES = {"free": "sweep", "standard": "sweep", "premium": "over-limit"}


def judged(outcome: scenarios.Outcome) -> scenarios.Outcome:
    """Attach the run's verdicts and picture to the report (allure), then hand the outcome back."""
    for name, kind in (("verdicts.md", allure.attachment_type.TEXT), (f"rate-{outcome.tier}.png", allure.attachment_type.PNG)):
        path = outcome.folder / name
        if path.is_file():
            allure.attach.file(str(path), name=name, attachment_type=kind)
    return outcome


@pytest.mark.behaviour("RATE-02", "RATE-01", "RATE-03", "PERF-02")
@pytest.mark.parametrize("tier", ["free", "standard", "premium"])
def test_tier_gets_exactly_its_per_minute_limit(load_context, load_folder, tier):
    """Rate Limit Tiers: offered 0.5x / 1x / 1.5x per minute, each window accepts min(offered,
    limit) exactly; every rejection is the documented 429, Remaining falls, Retry-After is enough;
    p95 under the SLO at 1x and no 5xx."""
    outcome = judged(scenarios.rate_windows(load_context, tier, load_folder, shape=SHAPES[tier]))
    assert outcome.passed, outcome.failure_text()


@pytest.mark.behaviour("RATE-02")
@pytest.mark.parametrize("tier", ["free", "standard", "premium"])
def test_concurrent_workflow_cap_holds_under_a_burst(load_context, load_folder, tier):
    """Rate Limit Tiers: Concurrent Workflows 5 / 50 / 200, exact under 1.5x simultaneous starts."""
    outcome = judged(scenarios.concurrency(load_context, tier, load_folder))
    assert outcome.passed, outcome.failure_text()


@pytest.mark.behaviour("RATE-02", "RATE-01")
def test_free_tier_hourly_cap_in_a_time_lapsed_hour(load_context, load_folder):
    """Rate Limit Tiers: Free 1,000 requests per hour at 1.5x per minute; then 429 until the hour ends."""
    outcome = judged(scenarios.hourly(load_context, "free", load_folder))
    assert outcome.passed, outcome.failure_text()
