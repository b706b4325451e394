"""Waiting without sleep-and-hope (house rule 6): poll with a deadline, say what was last seen."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")

TERMINAL = frozenset({"SUCCESS", "FAILED", "FAILED_AFTER_RETRIES", "TIMEOUT"})


class WaitTimeout(AssertionError):
    pass


def poll(fetch: Callable[[], T], until: Callable[[T], bool], *, timeout_s: float,
         interval_s: float = 0.1, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout_s
    last = None
    while True:
        last = fetch()
        if until(last):
            return last
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"{what} not reached within {timeout_s} s; last seen: {str(last)[:500]}")
        time.sleep(interval_s)


def execution(client, execution_id: str, *, statuses=TERMINAL, timeout_s: float = 30,
              until: Callable[[dict], bool] | None = None) -> dict:
    """Poll an execution until its status is one of `statuses` (or `until` holds)."""
    def fetch() -> dict:
        response = client.execution(execution_id)
        assert response.status_code == 200, f"GET execution {execution_id}: {response.status_code} {response.text[:200]}"
        return response.json()
    test = until or (lambda body: body["status"] in statuses)
    return poll(fetch, test, timeout_s=timeout_s, what=f"execution {execution_id} in {sorted(statuses)}")
