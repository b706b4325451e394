"""Credential-free round trips through a Toxiproxy listen address, to see a fault's effect on a
connection opened *now* (a fresh one), independent of the target's own pooled connections.

PostgreSQL answers an SSLRequest packet with one byte ('S' or 'N') before any authentication, so a
round trip needs no password; an HTTP upstream answers any request line with a status line.
"""
from __future__ import annotations

import socket
import struct
import time
from dataclasses import asdict, dataclass

# Int32 length 8, Int32 code 80877103: the PostgreSQL SSLRequest (protocol docs, "SSLRequest").
PG_SSL_REQUEST = struct.pack("!ii", 8, 80877103)
HTTP_REQUEST = b"HEAD / HTTP/1.0\r\nHost: probe\r\n\r\n"


@dataclass(frozen=True)
class RoundTrip:
    outcome: str        # ok | refused | reset | closed | timeout | error
    ms: float
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def to_json(self) -> dict:
        return asdict(self)


def round_trip(host: str, port: int, payload: bytes, timeout_s: float) -> RoundTrip:
    """Connect, send `payload`, wait for the first byte back; classify what happened."""
    start = time.perf_counter()

    def done(outcome: str, detail: str = "") -> RoundTrip:
        return RoundTrip(outcome, round((time.perf_counter() - start) * 1000, 1), detail)

    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.settimeout(max(0.05, timeout_s - (time.perf_counter() - start)))
            sock.sendall(payload)
            first = sock.recv(1)
            return done("ok", first.decode("latin-1")) if first else done("closed", "EOF before any byte")
    except ConnectionRefusedError as exc:
        return done("refused", str(exc))
    except ConnectionResetError as exc:
        return done("reset", str(exc))
    except (socket.timeout, TimeoutError):
        return done("timeout", f"no answer within {timeout_s:.1f} s")
    except OSError as exc:
        return done("error", f"{type(exc).__name__}: {exc}")


def payload_for(kind: str) -> bytes:
    return PG_SSL_REQUEST if kind == "postgres" else HTTP_REQUEST
