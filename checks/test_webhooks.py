"""Webhook checks: workflow.completed delivered and signed with the secret; test delivery.

Guide: Rate Limiting & Throttling > Optimization Strategies > Use webhooks instead of polling.
"""
from __future__ import annotations

import json
import secrets

import pytest

from cloudflow_checks import redact
from cloudflow_checks.assertions import json_of
from cloudflow_checks.webhook_receiver import WebhookReceiver, signature_valid

pytestmark = [pytest.mark.requires("provisioning", "webhook_receiver"), pytest.mark.behaviour("RATE-05")]


@pytest.fixture
def receiver():
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def webhook_secret():
    secret = secrets.token_hex(16)
    redact.register(secret)
    return secret


def test_workflow_completed_is_delivered_signed(workspace, spec, receiver, webhook_secret):
    """`cloudflow webhooks create --event workflow.completed --url ... --secret $WEBHOOK_SECRET`."""
    values = spec["RATE-05"]
    client = workspace.as_role("admin")
    hook = json_of(client.create_webhook(values["event"], receiver.url, webhook_secret), 201)
    assert webhook_secret not in json.dumps(hook), "the webhook secret was echoed back"
    wf = json_of(client.create_workflow({"name": "hooked", "environment": "development",
                                         "steps": [{"name": "s", "type": "noop"}]}), 201)
    exec_id = json_of(client.execute(wf["id"]), 202)["execution_id"]
    delivery = receiver.wait_for(lambda d: json.loads(d.body).get("execution_id") == exec_id,
                                 timeout_s=values.tolerance("delivery_s"))
    event = json.loads(delivery.body)
    assert event["event"] == values["event"]
    assert event["workflow_id"] == wf["id"]
    header = delivery.headers.get(values["signature_header"])
    assert signature_valid(webhook_secret, delivery.body, header, values["signature_prefix"]), (
        f"{values['signature_header']} {header!r} is not HMAC-SHA256 of the body with the secret")
    assert not signature_valid("another-secret", delivery.body, header, values["signature_prefix"])


def test_test_delivery_works_and_is_signed(workspace, spec, receiver, webhook_secret):
    """`cloudflow webhooks test webhook_abc123`."""
    values = spec["RATE-05"]
    client = workspace.as_role("admin")
    hook = json_of(client.create_webhook(values["event"], receiver.url, webhook_secret), 201)
    answer = json_of(client.test_webhook(hook["id"]))
    assert answer.get("delivered") is True, answer
    delivery = receiver.wait_for(lambda d: json.loads(d.body).get("webhook_id") == hook["id"],
                                 timeout_s=values.tolerance("delivery_s"))
    assert signature_valid(webhook_secret, delivery.body, delivery.headers.get(values["signature_header"]),
                           values["signature_prefix"]), (
        f"the test delivery's {values['signature_header']} header "
        f"({'missing' if delivery.headers.get(values['signature_header']) is None else 'present'}) is not the "
        f"HMAC-SHA256 of the body with the webhook's secret")
