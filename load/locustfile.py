"""Locust users for the rate-limit tiers: one user class per tier, each in its own workspace.

Run through `cloudflow-checks load` (or `python -m cloudflow_checks.load.cli`), which provisions the
workspace, writes the plan and starts Locust headless; the plan file's path is in
$CLOUDFLOW_LOAD_PLAN. Paths and bodies come from the plan, derived from the suite's one API client.
"""
from __future__ import annotations

from pathlib import Path

from locust import FastHttpUser, constant, constant_throughput, events, task
from locust.runners import MasterRunner

import shapes
from cloudflow_checks.load.recorder import Recorder

PLAN = shapes.plan()
REQUEST = PLAN.request
_recorder: Recorder | None = None


class TierUser(FastHttpUser):
    """One workspace's caller: sends the plan's request at a fixed pace (open-loop, like traffic)."""

    abstract = True
    tier = ""
    host = PLAN.base_url
    network_timeout = 35.0      # just past the documented 30000 ms request cap (PERF-01)
    connection_timeout = 5.0
    wait_time = {"burst": constant(3600),             # a burst user sends once
                 "closed": constant(0)}.get(PLAN.kind, constant_throughput(PLAN.per_user_rate))

    def on_start(self):
        self._headers = {"Authorization": f"Bearer {PLAN.token}"}
        self._context = {"user": self.tier}

    @task
    def call(self):
        self.client.request(REQUEST.method, REQUEST.path, json=REQUEST.body, headers=self._headers,
                            name=REQUEST.name, context=self._context)


class FreeUser(TierUser):
    tier = "free"


class StandardUser(TierUser):
    tier = "standard"


class PremiumUser(TierUser):
    tier = "premium"


class EnterpriseUser(TierUser):
    """Enterprise limits are custom: the plan carries the configured ones."""
    tier = "enterprise"


Shape = shapes.selected()


@events.init.add_listener
def _start_recording(environment, **_kwargs):
    global _recorder
    if isinstance(environment.runner, MasterRunner):
        return  # the master sends nothing; the workers record
    role = "worker" if environment.parsed_options and environment.parsed_options.worker else "local"
    _recorder = Recorder(Path(PLAN.records_dir), role)
    environment.events.request.add_listener(_recorder.on_request)


@events.quitting.add_listener
def _stop(environment, **_kwargs):
    if _recorder is not None:
        _recorder.close()
    shapes.timeline().stop()
