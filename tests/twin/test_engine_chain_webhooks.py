"""WF-08 chaining, RATE-05 webhooks, heartbeat, concurrency."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time

import pytest

from cloudflow_twin.engine import testing as t

WS = "ws_enginetest"


@pytest.fixture(scope="module")
def pg():
    server = t.PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def db_url(pg):
    with pg.database() as url:
        yield url


def chain(db_url):
    part1 = t.insert_workflow(db_url, [{"name": "a", "type": "noop"}], timeout_s=1800)
    part2 = t.insert_workflow(db_url, [{"name": "b", "type": "noop"}],
                              trigger={"type": "workflow_completed", "workflow_id": part1})
    return part1, part2


def test_workflow_completed_trigger_starts_downstream(db_url, tmp_path):
    part1, part2 = chain(db_url)
    ex = t.insert_execution(db_url, part1, correlation_id="corr_chaintest1")
    rt = t.make_runtime(db_url, tmp_path)

    async def scenario():
        async with t.running_engine(rt):
            up = await t.wait_status(db_url, ex, "SUCCESS")
            down = await t.wait_for(lambda: t.sql(db_url, "SELECT * FROM executions WHERE "
                                                  "workflow_id = %s AND status = 'SUCCESS'", (part2,)),
                                    10, "downstream execution")
            return up, down
    up, down = asyncio.run(scenario())
    assert len(down) == 1
    assert down[0]["triggered_by"] == ex and down[0]["correlation_id"] == "corr_chaintest1"
    assert down[0]["started_at"] >= up["finished_at"]


def test_failed_upstream_and_trigger_ignored_start_nothing(db_url, tmp_path):
    part1, part2 = chain(db_url)
    failing = t.insert_workflow(db_url, [{"name": "x", "type": "flaky", "fail_times": 9,
                                          "retry_enabled": False}])
    t.sql(db_url, "UPDATE workflows SET trigger = %s WHERE id = %s",
          (json.dumps({"type": "workflow_completed", "workflow_id": failing}), part2), fetch=False)
    t.sql(db_url, "INSERT INTO workflows (id, workspace_id, name, retry_policy, steps, trigger, "
                  "created_by, created_at, updated_at) SELECT 'wf_second', workspace_id, 'second', "
                  "retry_policy, steps, %s, created_by, created_at, updated_at FROM workflows "
                  "WHERE id = %s", (json.dumps({"type": "workflow_completed", "workflow_id": part1}),
                                    part2), fetch=False)
    ex_fail = t.insert_execution(db_url, failing)
    ex_ok = t.insert_execution(db_url, part1)
    rt = t.make_runtime(db_url, tmp_path, faults=t.FaultSet(["trigger_ignored"]))

    async def scenario():
        async with t.running_engine(rt):
            await t.wait_status(db_url, ex_fail, "FAILED")
            await t.wait_status(db_url, ex_ok, "SUCCESS")
            await asyncio.sleep(0.5)  # several scheduler polls
    asyncio.run(scenario())
    assert t.sql(db_url, "SELECT count(*) AS n FROM executions WHERE triggered_by IS NOT NULL")[0]["n"] == 0


def add_webhook(db_url, url, secret="s3cret-hook"):
    wh = "wh_" + str(time.time_ns())[-10:]
    t.sql(db_url, "INSERT INTO webhooks (id, workspace_id, event, url, secret, created_at) "
                  "VALUES (%s, %s, 'workflow.completed', %s, %s, %s)", (wh, WS, url, secret, time.time()),
          fetch=False)
    return wh


def deliver(db_url, tmp_path, *, faults=(), status=200, wf_steps=None):
    wf = t.insert_workflow(db_url, wf_steps or [{"name": "a", "type": "noop"}])
    with t.WebhookReceiver(status=status) as receiver:
        wh = add_webhook(db_url, receiver.url)
        ex = t.insert_execution(db_url, wf)
        rt = t.make_runtime(db_url, tmp_path, faults=t.FaultSet(faults))

        async def scenario():
            async with t.running_engine(rt):
                await t.wait_status(db_url, ex, t.TERMINAL_STATUSES)
                return await t.wait_for(lambda: t.sql(
                    db_url, "SELECT * FROM webhook_deliveries WHERE execution_id = %s", (ex,)),
                    10, "delivery record")
        records = asyncio.run(scenario())
    return wf, wh, ex, receiver.received, records


def test_webhook_delivered_signed_and_recorded(db_url, tmp_path):
    wf, wh, ex, received, records = deliver(db_url, tmp_path)
    assert len(received) == 1
    headers = {k.lower(): v for k, v in received[0]["headers"].items()}
    body = received[0]["body"]
    expected = "sha256=" + hmac.new(b"s3cret-hook", body, hashlib.sha256).hexdigest()
    assert headers["x-cloudflow-signature"] == expected
    assert headers["x-cloudflow-event"] == "workflow.completed"
    payload = json.loads(body)
    assert payload["event"] == "workflow.completed" and payload["status"] == "SUCCESS"
    assert (payload["webhook_id"], payload["workflow_id"], payload["execution_id"]) == (wh, wf, ex)
    assert payload["timestamp"].endswith("Z")
    assert [(r["webhook_id"], r["status_code"], r["error"]) for r in records] == [(wh, 200, None)]


def test_webhook_unsigned_fault(db_url, tmp_path):
    _, _, _, received, _ = deliver(db_url, tmp_path, faults=["webhook_unsigned"])
    assert "x-cloudflow-signature" not in {k.lower() for k in received[0]["headers"]}


def test_webhook_retries_are_bounded(db_url, tmp_path):
    _, _, _, received, records = deliver(db_url, tmp_path, status=500)
    assert len(received) == 3
    assert records[0]["status_code"] == 500 and records[0]["error"] == "status 500"


def test_no_webhook_for_failed_execution(db_url, tmp_path):
    wf = t.insert_workflow(db_url, [{"name": "x", "type": "flaky", "fail_times": 9, "retry_enabled": False}])
    with t.WebhookReceiver() as receiver:
        add_webhook(db_url, receiver.url)
        ex = t.insert_execution(db_url, wf)
        rt = t.make_runtime(db_url, tmp_path)

        async def scenario():
            async with t.running_engine(rt):
                await t.wait_status(db_url, ex, "FAILED")
                await asyncio.sleep(0.5)
        asyncio.run(scenario())
    assert receiver.received == []


def test_heartbeat_and_concurrent_executions(db_url, tmp_path):
    """Ten 2 s sleeps finish in well under 10 s; the heartbeat file is fresh meanwhile."""
    wf = t.insert_workflow(db_url, [{"name": "s", "type": "sleep", "seconds": 2}])
    ids = [t.insert_execution(db_url, wf) for _ in range(10)]
    rt = t.make_runtime(db_url, tmp_path)

    async def scenario():
        async with t.running_engine(rt):
            start = time.monotonic()
            ages = []
            for ex in ids:
                await t.wait_status(db_url, ex, "SUCCESS", timeout=10)
                ages.append(time.time() - float((tmp_path / "engine.heartbeat").read_text()))
            return time.monotonic() - start, ages
    elapsed, ages = asyncio.run(scenario())
    assert elapsed < 4.5
    assert max(ages) < 1.0
