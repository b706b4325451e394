"""Loopback ports for the stack: a free one picked by the kernel, or the user's, checked first."""
from __future__ import annotations

import errno
import socket

from .errors import PortTaken

HOST = "127.0.0.1"


def free_port() -> int:
    """A port free right now on 127.0.0.1 (the kernel's pick; the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free right now: the sockets are held open together while the kernel
    picks, so two components never get the same port (separate picks can repeat one)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as the servers do: a port with only TIME_WAIT leftovers counts as free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def choose(component: str, requested: int | None) -> int:
    """The requested port when it is free (else PortTaken naming it), or a free one."""
    if requested is None:
        return free_port()
    if not 1 <= requested <= 65535:
        raise PortTaken(f"port {requested} for {component} is not a valid TCP port")
    if port_in_use(requested):
        raise PortTaken(f"port {requested} requested for {component} is taken on {HOST}; "
                        f"choose another or leave it out to get a free one")
    return requested


def accepts(port: int, timeout: float = 0.5) -> bool:
    """Something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False
