"""Coverage of the behaviour catalogue, computed from the checks' markers (never hand-written)."""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest

from .spec import Spec

CHECK_SCOPES = ("synthetic", "chaos", "kubernetes")  # "reporting" IDs are the suite's own (tests/)


class _MarkerCollector:
    def __init__(self):
        self.by_id: dict[str, list[str]] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        for item in items:
            for mark in item.iter_markers("behaviour"):
                for bid in mark.args:
                    self.by_id.setdefault(bid, []).append(item.nodeid)


def collect(root: Path, paths: tuple[str, ...] = ("checks", "chaos", "load")) -> dict[str, list[str]]:
    collector = _MarkerCollector()
    existing = [str(root / p) for p in paths if (root / p).is_dir()]
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", "--rootdir", str(root), *existing],
                           plugins=[collector])
    if code not in (0, 5):
        raise RuntimeError(f"collecting the checks failed (pytest status {code})")
    return collector.by_id


def last_statuses(reports: Path) -> dict[str, str]:
    summary = reports / "latest" / "summary.json"
    if not summary.is_file():
        return {}
    data = json.loads(summary.read_text())
    return {bid: b["status"] for bid, b in data["behaviours"].items()}


def rows(spec: Spec, by_id: dict[str, list[str]], statuses: dict[str, str], scopes: tuple[str, ...]):
    for bid, b in spec.behaviours.items():
        checks = by_id.get(bid, [])
        yield {"id": bid, "title": b.title, "guide": b.guide, "scope": b.scope, "in_scope": b.scope in scopes,
               "checks": checks, "last_status": statuses.get(bid, "-")}
