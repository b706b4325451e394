"""Unit tests of the harness: the spec file and the target configuration."""
from __future__ import annotations

import pytest

from cloudflow_checks import config, spec


def test_every_catalogue_id_has_guide_section_severity_and_remediation():
    loaded = spec.load()
    assert len(loaded.behaviours) >= 49
    for b in loaded.behaviours.values():
        assert b.guide and b.title and b.remediation, b.id
        assert b.severity in spec.SEVERITIES


def test_guide_severity_examples_are_respected():
    """Severity Levels: authentication and database outages are SEV-1; rate limiting wrong is SEV-2."""
    loaded = spec.load()
    for bid in ("AUTH-01", "AUTH-03", "DB-02", "DB-03", "HEALTH-01"):
        assert loaded[bid].severity == "SEV-1", bid
    for bid in ("RATE-01", "RATE-02", "PERF-02"):
        assert loaded[bid].severity == "SEV-2", bid


def test_unknown_value_names_the_behaviour():
    with pytest.raises(KeyError, match="AUTH-01 has no documented value"):
        spec.load()["AUTH-01"]["nope"]


def test_bad_severity_is_rejected():
    data = {"guide": {"version": "x", "file": "f"}, "behaviours": {"X-1": {
        "title": "t", "guide": "g", "severity": "SEV-9", "scope": "synthetic"}}}
    with pytest.raises(ValueError, match="SEV-9"):
        spec.parse(data)


def write(tmp_path, text):
    path = tmp_path / "targets.yaml"
    path.write_text(text)
    return path


def test_default_targets_file_has_local(tmp_path):
    targets = config.load_targets(write(tmp_path, "targets:\n  local:\n    kind: twin\n"))
    assert targets["local"].kind == "twin"


def test_unknown_target_lists_valid_ones(tmp_path):
    targets = config.load_targets(write(tmp_path, "targets:\n  local:\n    kind: twin\n"))
    with pytest.raises(config.ConfigError, match="valid targets: local"):
        config.select(targets, "staging")


def test_typo_in_targets_file_is_one_clear_line(tmp_path):
    path = write(tmp_path, "targets:\n  local:\n    kind: twin\n    prodution: true\n")
    with pytest.raises(config.ConfigError) as err:
        config.load_targets(path)
    assert "targets.local.prodution" in str(err.value) and "\n" not in str(err.value)


def test_unknown_capability_is_rejected(tmp_path):
    path = write(tmp_path, "targets:\n  s:\n    kind: remote\n    base_url: http://127.0.0.1:9\n    capabilities: [time_travel]\n")
    with pytest.raises(config.ConfigError, match="time_travel"):
        config.load_targets(path)


def test_remote_secrets_come_from_environment(tmp_path, monkeypatch):
    path = write(tmp_path, """targets:
  staging:
    kind: remote
    base_url: http://127.0.0.1:9/
    accounts:
      viewer: {username: v@example.com, password_env: CF_TEST_VIEWER_PW}
""")
    cfg = config.select(config.load_targets(path), "staging")
    monkeypatch.delenv("CF_TEST_VIEWER_PW", raising=False)
    with pytest.raises(config.ConfigError, match="CF_TEST_VIEWER_PW is not set"):
        config.resolve_remote("staging", cfg)
    monkeypatch.setenv("CF_TEST_VIEWER_PW", "s3cret-value")
    target = config.resolve_remote("staging", cfg)
    assert target.base_url == "http://127.0.0.1:9"
    assert "s3cret-value" in target.secrets()


def test_repository_targets_file_is_valid():
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    targets = config.load_targets(root / "targets.yaml")
    assert targets["local"].kind == "twin" and targets["local"].production is False
