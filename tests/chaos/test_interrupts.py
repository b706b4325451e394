"""Every toxic is removed on every exit path: SIGINT and SIGTERM in the middle of a fault leave
nothing behind (read back through the Toxiproxy API); after SIGKILL the next start's sweep finds
the leftovers, removes them and reports them."""
from __future__ import annotations

import signal

import pytest

from .conftest import gameday_cli, wait_for

pytestmark = pytest.mark.requires("toxiproxy", "provisioning")


def _suite_toxic(proxies, logical="postgres"):
    name = proxies.name(logical)
    return [t.name for t in proxies.suite_toxics().get(name, [])]


def _clean(proxies) -> list[str]:
    return proxies.leftovers()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_toxic_rolls_back(proxies, tmp_path, sig):
    proxies.sweep()
    proc = gameday_cli("--experiment", "cache-slow-db", "--reports", str(tmp_path))
    try:
        wait_for(lambda: _suite_toxic(proxies), timeout_s=60, what="the experiment's toxic on postgres", proc=proc)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert _clean(proxies) == [], f"left behind after {sig.name}: {_clean(proxies)}\n{out[-2000:]}"
    assert proc.returncode == 1, f"exit status {proc.returncode} after {sig.name}\n{out[-2000:]}"
    assert "interrupted" in out, out[-2000:]


def test_sigterm_mid_partition_enables_the_proxy(proxies, tmp_path):
    proxies.sweep()
    postgres = proxies.name("postgres")
    proc = gameday_cli("--experiment", "db-partition", "--reports", str(tmp_path))
    try:
        wait_for(lambda: not proxies.admin.proxy(postgres).enabled, timeout_s=60, what="the partition", proc=proc)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proxies.admin.proxy(postgres).enabled, f"proxy {postgres} left disabled\n{out[-2000:]}"
    assert _clean(proxies) == [], _clean(proxies)


def test_sigkill_leftovers_are_swept_and_reported_at_next_start(proxies, tmp_path):
    proxies.sweep()
    proc = gameday_cli("--experiment", "cache-slow-db", "--reports", str(tmp_path))
    try:
        left = wait_for(lambda: _suite_toxic(proxies), timeout_s=60, what="the experiment's toxic on postgres", proc=proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    try:
        assert _suite_toxic(proxies) == left, "SIGKILL cannot roll back: the toxic must still be there"
        nxt = gameday_cli("--sweep-only", "--reports", str(tmp_path))
        out, _ = nxt.communicate(timeout=60)
        assert nxt.returncode == 0, out[-2000:]
        for name in left:
            assert name in out, f"the sweep did not report leftover {name}: {out[-2000:]}"
        assert _clean(proxies) == [], f"the sweep left {_clean(proxies)}"
    finally:
        proxies.sweep()
