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


@pytest.mark.parametrize("failure", [TimeoutError, KeyboardInterrupt], ids=["timeout", "interrupt"])
def test_injection_applied_but_not_acknowledged_is_rolled_back(proxies, failure):
    """A toxic add or a disable that the server applied, but whose answer never came (a client
    timeout, Ctrl-C during the call), is undone before the error goes on. The server is real; only
    the lost answer is simulated, by raising after the real call, since it cannot be caused on demand."""
    from cloudflow_checks.toxiproxy_client import ToxiproxyError
    proxies.sweep()
    error = ToxiproxyError("read timed out") if failure is TimeoutError else KeyboardInterrupt()
    admin = proxies.admin
    applied_then_lost = {name: getattr(admin, name) for name in ("add_toxic", "disable")}

    def losing(name):
        def call(*args, **kwargs):
            applied_then_lost[name](*args, **kwargs)
            raise error
        return call

    for name, enter in (("add_toxic", lambda: proxies.toxic("postgres", "latency", {"latency": 100}, label="lost")),
                        ("disable", lambda: proxies.partition("postgres"))):
        setattr(admin, name, losing(name))
        try:
            with pytest.raises((type(error), Exception)) as raised:
                with enter():
                    pytest.fail("the fault block ran although the injection raised")
        finally:
            setattr(admin, name, applied_then_lost[name])
        assert isinstance(raised.value, (KeyboardInterrupt,)) or "could not" in str(raised.value), raised.value
        assert proxies.leftovers() == [], f"{name}: applied and lost, then left behind: {proxies.leftovers()}"
