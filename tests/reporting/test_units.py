"""Unit tests of the reporting pieces over synthetic data: redaction, history trends, summary order,
incident-report evidence."""
from __future__ import annotations

import json

import pytest

from cloudflow_checks import redact
from cloudflow_checks.reporting import history, incident, summary
from cloudflow_checks.results import CheckResult
from cloudflow_checks.spec import load


# -- redact ------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, secret", [
    ('{"password": "hunter2!x"}', "hunter2!x"),
    ("{'webhook_secret': 'whsec_abc123'}", "whsec_abc123"),
    ('message="{&quot;access_token&quot;: &quot;opaque tok 1&quot;}"', "opaque tok 1"),   # junit.xml attribute
    ('assert r.text == "{\\"secret\\": \\"s3cr3t-v\\"}"', "s3cr3t-v"),                      # escaped JSON in a message
    ("POST /hooks?secret=abcdef123&x=1", "abcdef123"),
    ("X-Webhook-Secret: zz-top-secret", "zz-top-secret"),
    ("Authorization: Bearer opaque-token-value", "opaque-token-value"),
    ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
    ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl end", "eyJhbGciOiJIUzI1NiJ9"),
    ("-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----", "MIIEv"),
    ("X-Twin-Admin-Token: adm1n-tok", "adm1n-tok"),                                      # the control API's header
    ("TWIN_ADMIN_TOKEN=adm1n-tok", "adm1n-tok"),                                         # a prefixed key
])
def test_redact_masks_secrets_by_shape_and_key(raw, secret):
    out = redact.text(raw)
    assert secret not in out and redact.MASK in out


def test_redact_leaves_ordinary_text_alone():
    for text in ("token expired after 3600 s", "Retry-After: 5", '"token_type": "bearer"', "X-RateLimit-Remaining: 0"):
        assert redact.text(text) == text


def test_redact_registered_values_and_structures():
    redact.register("reg-Secret-123", "short")
    assert redact.text("user pw reg-Secret-123 here") == f"user pw {redact.MASK} here"
    assert redact.text("short stays") == "short stays"       # too short to register safely
    out = redact.data({"password": "x", "webhook_secret": "y", "nested": [{"api_key": "z"}], "max_tokens": 3})
    assert out == {"password": redact.MASK, "webhook_secret": redact.MASK, "nested": [{"api_key": redact.MASK}],
                   "max_tokens": 3}


def test_registered_secret_is_masked_also_as_xml_and_json_escape_it():
    """junit.xml holds a password from targets.yaml XML-escaped, allure JSON-escaped."""
    redact.register('p&ss<w"rd\\1')
    for shown in ("p&amp;ss&lt;w&quot;rd\\1", "p&amp;ss&lt;w\"rd\\1", 'p&ss<w\\"rd\\\\1'):
        assert redact.text(f"failed: {shown} end") == f"failed: {redact.MASK} end", shown


def test_sweep_rewrites_text_files_and_leaves_pictures(tmp_path):
    redact.register("swept-secret-1")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.json").write_text('{"v": "swept-secret-1"}')
    (tmp_path / "b.png").write_bytes(b"\x89PNG swept-secret-1")
    changed = redact.sweep(tmp_path)
    assert changed == [tmp_path / "a" / "x.json"]
    assert "swept-secret-1" not in (tmp_path / "a" / "x.json").read_text()


# -- history -----------------------------------------------------------------------------------
@pytest.mark.parametrize("outcomes, trend", [
    (["passed", "passed"], "stable"), (["failed"], "new"), (["failed", "failed", "failed"], "persistent"),
    (["passed", "failed"], "flaky"), (["failed", "passed"], "flaky"), (["failed", "skipped", "failed"], "persistent"),
    (["not-run", "skipped"], "stable"),
])
def test_classify(outcomes, trend):
    assert history.classify(outcomes) == trend


def _entry(run_id, outcome, target="local"):
    return {"run_id": run_id, "target": target, "behaviours": {"AUTH-07": outcome}, "checks": {"c": outcome}}


def test_trends_use_the_last_n_runs_of_the_same_target():
    past = [_entry("r1", "failed"), _entry("r2", "passed"), _entry("r3", "failed"), _entry("x", "passed", "staging")]
    now = _entry("r4", "failed")
    assert history.trends(now, past, window=2)["checks"]["c"]["trend"] == "persistent"   # r3, r4
    assert history.trends(now, past, window=3)["checks"]["c"]["trend"] == "flaky"        # r2 passed
    assert history.trends(now, past, window=3)["runs"] == ["r2", "r3", "r4"]


def test_history_file_is_rewritten_atomically_and_deduplicated(tmp_path):
    path = tmp_path / "history.jsonl"
    history.append(path, _entry("r1", "failed"))
    history.append(path, _entry("r1", "passed"))
    path.write_text(path.read_text() + "{torn line\n")
    history.append(path, _entry("r2", "passed"))
    assert [r["run_id"] for r in history.read(path)] == ["r1", "r2"]
    assert history.read(path)[0]["checks"]["c"] == "passed"


# -- summary -----------------------------------------------------------------------------------
def _run(fail_on="SEV-2", run_id="r1"):
    return summary.RunInfo(run_id, {"name": "local", "kind": "twin", "base_url": "http://x"}, "smoke",
                           "2026-01-24T10:30:00+00:00", "2026-01-24T10:31:00+00:00", 60.0, fail_on)


def test_summary_markdown_order_and_history(tmp_path):
    results = [CheckResult("checks/a.py::t403", ["AUTH-06"], "failed", message="expected 403, got 500",
                           correlation_ids=["corr_aaaa1111"], endpoints=["GET /api/v1/workflows/wf_1 -> 500"]),
               CheckResult("checks/a.py::whoami", ["AUTH-07"], "failed", message="no scopes"),
               CheckResult("checks/a.py::skip", ["AUTH-09"], "skipped", message="lacks provisioning"),
               CheckResult("checks/a.py::ok", ["AUTH-03"], "passed")]
    run_dir = tmp_path / "reports" / "r1"
    written = summary.write(summary.build(load(), results, _run()), run_dir)
    assert written["verdict"]["blocking"] == ["AUTH-06"] and written["artifacts"]["incident_report"]
    md = (run_dir / "summary.md").read_text()
    assert md.startswith("# CloudFlow checks: gate FAIL\n\n**Release gate: FAIL.**")
    positions = [md.index(s) for s in ("### SEV-2 (blocks the gate)", "### SEV-4 (below the gate's bar)",
                                      "## Skipped", "## Passed")]
    assert positions == sorted(positions)
    assert "Remediation: Check roles" in md and "corr_aaaa1111" in md
    assert json.loads((run_dir / "summary.json").read_text())["checks"][0]["trend"] in ("new", "stable")
    # a second run where AUTH-06 passes: its check is flaky now, AUTH-07 persistent
    results[0] = CheckResult("checks/a.py::t403", ["AUTH-06"], "passed")
    second = summary.write(summary.build(load(), results, _run(run_id="r2")), tmp_path / "reports" / "r2")
    assert second["verdict"]["gate"] == "pass"
    assert second["history"]["flaky"] == ["checks/a.py::t403"]
    assert second["history"]["persistent"] == ["checks/a.py::whoami"]
    assert "AUTH-06 (flaky)" in (tmp_path / "reports" / "r2" / "summary.md").read_text()


# -- incident ----------------------------------------------------------------------------------
def test_endpoint_templates_and_error_rates():
    assert incident.endpoint_of("GET", "/api/v1/workflows/wf_8h4j9k2m/execute") == "GET /api/v1/workflows/{id}/execute"
    assert incident.endpoint_of("GET", "/api/v1/executions/123") == "GET /api/v1/executions/{id}"
    assert incident.endpoint_of("GET", "/health") == "GET /health"
    rows = [{"nodeid": "bad", "method": "GET", "path": "/api/v1/workflows/wf_abcd1234", "status": 500},
            {"nodeid": "bad", "method": "GET", "path": "/api/v1/workflows/wf_efgh5678", "status": 200},
            {"nodeid": "ok", "method": "GET", "path": "/health", "status": 200}]
    first = incident.error_rates(rows, {"bad"})[0]
    assert (first.endpoint, first.requests, first.server_errors, first.errors_in_failed_checks) == \
        ("GET /api/v1/workflows/{id}", 2, 1, 1)
    assert first.server_error_rate == 0.5


def test_file_log_excerpt_finds_lines_by_correlation_id(tmp_path):
    log = tmp_path / "api.log"
    log.write_text("\n".join(json.dumps({"message": f"m{i}", "correlation_id": f"corr_{i:04d}",
                                         "password": "pw-in-log-1"}) for i in range(50)) + "\n")
    excerpt = incident.file_log_excerpt([log], ["corr_0007", "corr_9999"])
    assert len(excerpt.lines) == 1 and "corr_0007" in excerpt.lines[0]
    assert "corr_9999" in excerpt.note


def test_incident_report_without_a_target_says_what_is_missing(tmp_path):
    results = [CheckResult("checks/a.py::t403", ["AUTH-06"], "failed", message="boom",
                           correlation_ids=["corr_zz99"], endpoints=["POST /api/v1/workflows -> 500"])]
    built = summary.add_history(summary.build(load(), results, _run()), [])
    text = incident.write(tmp_path, built, None).read_text()
    assert "POST /api/v1/workflows -> 500" in text and "corr_zz99" in text
    assert "target was not in hand" in text


def test_redaction_leaves_prose_naming_an_http_call_alone():
    """A remediation such as 'Refresh the access token: POST /auth/refresh' is not a secret."""
    from cloudflow_checks import redact
    assert redact.text("Refresh the access token: POST /auth/refresh") == "Refresh the access token: POST /auth/refresh"
    assert redact.text("token: POSTGRESQL-secret-value") == "token: ***REDACTED***"
