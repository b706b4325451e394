"""The CI templates under deploy/ci/ parse, and every suite command they call exists with the options
they pass (a renamed option would otherwise break CI silently)."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cloudflow_checks.cli import main
from cloudflow_checks.reporting.cli import report

CI = Path(__file__).resolve().parents[2] / "deploy" / "ci"
TEMPLATES = sorted(CI.rglob("*.yml"))


def _scripts(node) -> list[str]:
    """Every shell line in a workflow or pipeline (run: blocks, script: lists)."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("run", "script", "before_script", "after_script"):
                lines = value if isinstance(value, list) else str(value).splitlines()
                out += [str(line) for line in lines]
            else:
                out += _scripts(value)
    elif isinstance(node, list):
        for value in node:
            out += _scripts(value)
    return out


def test_there_are_github_and_gitlab_templates():
    names = {p.relative_to(CI).as_posix() for p in TEMPLATES}
    assert {"github/cloudflow-scheduled.yml", "github/cloudflow-release-gate.yml",
            "gitlab/cloudflow.gitlab-ci.yml"} <= names


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_template_runs_setup_the_suite_and_the_html_report(path):
    doc = yaml.safe_load(path.read_text())
    lines = _scripts(doc)
    text = "\n".join(lines)
    assert "scripts/setup.sh" in text and "scripts/setup-report-tools.sh" in text
    assert re.search(r"cloudflow-checks run .*--profile (smoke|gate)", text)
    assert "cloudflow-checks report --html" in text
    assert "history.jsonl" in path.read_text() and "allure-history.jsonl" in path.read_text()


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_every_suite_command_line_is_accepted(path):
    """Each `cloudflow-checks ...` line's options are known to the command (checked with --help parsing)."""
    for line in _scripts(yaml.safe_load(path.read_text())):
        m = re.search(r"cloudflow-checks (\w+)(.*?)(?:\|\||&&|$)", line)
        if not m:
            continue
        command, rest = m.group(1), m.group(2)
        options = [t.split("=")[0] for t in shlex.split(re.sub(r"\$\{\{.*?\}\}", "X", rest)) if t.startswith("--")]
        cmd = report if command == "report" else main.commands[command]
        known = {o for p in cmd.params for o in p.opts}
        assert set(options) <= known, f"{path.name}: {command} does not know {set(options) - known}"


def test_schedules_and_gates():
    scheduled = yaml.safe_load((CI / "github" / "cloudflow-scheduled.yml").read_text())
    assert scheduled[True]["schedule"][0]["cron"] == "*/10 * * * *"   # yaml reads `on:` as True
    gate = yaml.safe_load((CI / "github" / "cloudflow-release-gate.yml").read_text())
    assert "workflow_call" in gate[True]
    gitlab = yaml.safe_load((CI / "gitlab" / "cloudflow.gitlab-ci.yml").read_text())
    assert {"cloudflow:scheduled", "cloudflow:release-gate", "pages"} <= set(gitlab)
    assert CliRunner().invoke(report, ["--help"]).exit_code == 0
