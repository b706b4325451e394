"""The Toxiproxy adapter against the real toxiproxy-server 2.12.0, with real TCP through the proxy."""
from __future__ import annotations

import os
import socket
import socketserver
import threading
import time

import pytest
import toxiproxy
from toxiproxy.api import APIConsumer

from cloudflow_checks.stack import binaries, ports, procs
from cloudflow_checks.toxiproxy_client import InvalidToxic, NotFound, ProxyExists, ToxiproxyAdmin, ToxiproxyError


class _Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture(scope="module")
def echo_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = ports.free_port()
    log = tmp_path_factory.mktemp("toxiproxy") / "toxiproxy.out"
    rec = procs.spawn("toxiproxy", [str(binaries.toxiproxy_server()), "-host", "127.0.0.1", "-port", str(port)],
                      log, {**os.environ, "LOG_LEVEL": "warn"})
    url = f"http://127.0.0.1:{port}"
    try:
        procs.wait_for("toxiproxy", lambda: ports.accepts(port), 15, record=rec, log_path=log)
        yield url
    finally:
        assert procs.stop_group(rec, grace_s=5)


@pytest.fixture
def admin(server):
    admin = ToxiproxyAdmin(server)
    admin.reset()
    for name in admin.proxies():
        admin.delete_proxy(name)
    return admin


def _round_trip(listen: str, payload: bytes = b"ping") -> float:
    host, port = listen.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(payload)
        received = b""
        while len(received) < len(payload):
            chunk = sock.recv(4096)
            assert chunk, "connection closed by the proxy"
            received += chunk
        elapsed = time.monotonic() - started
    assert received == payload
    return elapsed


def test_version_is_the_real_server(admin):
    assert admin.version() == "2.12.0"


def test_latency_toxic_is_read_back_and_measured_on_a_real_round_trip(admin, echo_server):
    proxy = admin.ensure_proxy("echo", "127.0.0.1:0", echo_server)
    baseline = min(_round_trip(proxy.listen) for _ in range(3))
    toxic = admin.add_toxic("echo", "latency", {"latency": 300}, stream="downstream")
    assert toxic.name == "cfc_latency_downstream"
    assert toxic.attributes == {"latency": 300, "jitter": 0}  # the server's defaults come back too
    [read_back] = admin.list_toxics("echo")
    assert (read_back.type, read_back.stream, read_back.toxicity, read_back.attributes["latency"]) == \
        ("latency", "downstream", 1.0, 300)
    assert admin.proxy("echo").toxics == (read_back,)
    slowed = _round_trip(proxy.listen)
    assert 0.3 <= slowed - baseline < 0.3 + 0.5, (baseline, slowed)
    admin.update_toxic("echo", toxic.name, {"latency": 100})
    assert admin.toxic("echo", toxic.name).attributes["latency"] == 100
    admin.remove_toxic("echo", toxic.name)
    assert admin.list_toxics("echo") == []
    assert _round_trip(proxy.listen) < 0.2


def test_toxic_applied_is_removed_on_every_exit_path(admin, echo_server):
    admin.ensure_proxy("echo", "127.0.0.1:0", echo_server)
    with pytest.raises(RuntimeError):
        with admin.toxic_applied("echo", "timeout", {"timeout": 0}, name="cfc_blackhole"):
            assert [t.name for t in admin.list_toxics("echo")] == ["cfc_blackhole"]
            raise RuntimeError("the experiment failed")
    assert admin.list_toxics("echo") == []


def test_sweep_removes_only_the_suites_toxics_and_reports_them(admin, echo_server):
    admin.ensure_proxy("a", "127.0.0.1:0", echo_server)
    admin.ensure_proxy("b", "127.0.0.1:0", echo_server)
    admin.add_toxic("a", "latency", {"latency": 50}, name="cfc_left_a")
    admin.add_toxic("b", "bandwidth", {"rate": 1}, stream="upstream", name="cfc_left_b")
    admin.add_toxic("b", "latency", {"latency": 10}, name="operator_toxic")
    found = admin.sweep()
    assert sorted((f.proxy, f.toxic.name, f.toxic.type) for f in found) == \
        [("a", "cfc_left_a", "latency"), ("b", "cfc_left_b", "bandwidth")]
    assert admin.list_toxics("a") == []
    assert [t.name for t in admin.list_toxics("b")] == ["operator_toxic"]
    assert admin.sweep() == []


def test_disable_enable_and_down_cut_real_connections(admin, echo_server):
    proxy = admin.ensure_proxy("echo", "127.0.0.1:0", echo_server)
    with admin.down("echo"):
        assert admin.disabled_proxies() == ["echo"]
        with pytest.raises(OSError):
            _round_trip(proxy.listen)
    assert admin.disabled_proxies() == []
    _round_trip(proxy.listen)


def test_ensure_proxy_is_idempotent_and_fixes_upstream_in_place(admin, echo_server):
    first = admin.ensure_proxy("echo", "127.0.0.1:0", "127.0.0.1:9")
    admin.add_toxic("echo", "latency", {"latency": 1})
    admin.disable("echo")
    second = admin.ensure_proxy("echo", "127.0.0.1:0", echo_server)
    assert second.listen == first.listen and second.upstream == echo_server and second.enabled
    assert len(second.toxics) == 1  # kept: the library's populate would have destroyed them
    assert admin.ensure_proxy("echo", "127.0.0.1:0", echo_server) == second


def test_errors_are_raised_not_swallowed(admin, echo_server, server):
    proxy = admin.ensure_proxy("echo", "127.0.0.1:0", echo_server)
    admin.add_toxic("echo", "latency", {"latency": 1})
    with pytest.raises(ProxyExists):
        admin.add_toxic("echo", "latency", {"latency": 1})
    with pytest.raises(InvalidToxic):
        admin.add_toxic("echo", "no_such_toxic")
    with pytest.raises(NotFound):
        admin.list_toxics("missing")
    with pytest.raises(NotFound):
        admin.update_toxic("echo", "missing", {"latency": 1})
    # a 5xx (listen address taken), which the library alone would let pass
    with pytest.raises(ToxiproxyError, match="500.*address already in use"):
        admin.ensure_proxy("clash", proxy.listen, echo_server)
    with pytest.raises(ToxiproxyError, match="unreachable"):
        ToxiproxyAdmin(f"http://127.0.0.1:{ports.free_port()}", timeout=1).version()


def test_the_librarys_global_host_and_port_are_restored(admin):
    before = APIConsumer.host, APIConsumer.port
    admin.version()
    assert (APIConsumer.host, APIConsumer.port) == before


def test_two_servers_from_many_threads_do_not_mix(admin, server, tmp_path):
    other_port = ports.free_port()
    rec = procs.spawn("toxiproxy2", [str(binaries.toxiproxy_server()), "-host", "127.0.0.1", "-port",
                                     str(other_port)], tmp_path / "t2.out", {**os.environ, "LOG_LEVEL": "warn"})
    try:
        procs.wait_for("toxiproxy2", lambda: ports.accepts(other_port), 15, record=rec, log_path=tmp_path / "t2.out")
        other = ToxiproxyAdmin(f"http://127.0.0.1:{other_port}")
        admin.ensure_proxy("only_here", "127.0.0.1:0", "127.0.0.1:9")
        errors = []

        def hammer(client, expect):
            for _ in range(30):
                if ("only_here" in client.proxies()) != expect:
                    errors.append(client.url)

        threads = [threading.Thread(target=hammer, args=(c, e)) for c, e in ((admin, True), (other, False)) * 3]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
    finally:
        procs.stop_group(rec, grace_s=5)


def test_the_plain_library_still_works_through_its_own_configuration(admin, echo_server):
    """The adapter does not break direct use of toxiproxy-python (configured globally, its way)."""
    admin.ensure_proxy("echo", "127.0.0.1:0", echo_server)
    host, port = admin.url.rsplit("/", 1)[1].split(":")
    saved = APIConsumer.host, APIConsumer.port
    try:
        client = toxiproxy.Toxiproxy()
        client.update_api_consumer(host, int(port))
        proxy = client.get_proxy("echo")
        proxy.add_toxic(type="latency", name="cfc_via_library", attributes={"latency": 5})
        assert admin.toxic("echo", "cfc_via_library").attributes["latency"] == 5
    finally:
        APIConsumer.host, APIConsumer.port = saved
    assert [f.toxic.name for f in admin.sweep()] == ["cfc_via_library"]
