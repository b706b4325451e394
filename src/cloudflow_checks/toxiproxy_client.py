"""The suite's one door to a Toxiproxy server: a thin adapter over toxiproxy-python 0.1.1.

It speaks through the library's transport (`toxiproxy.api.APIConsumer`) and keeps its error
mapping (400 -> InvalidToxic, 404 -> NotFound, 409 -> ProxyExists), and wraps it where it falls
short against a real v2 server:

- host and port are class attributes of APIConsumer (one server per process): every call here
  binds them to this admin's URL under a process-wide lock, and restores them after;
- 5xx answers (e.g. a proxy whose listen port is taken) are returned, not raised, and the library's
  high-level objects then fail later or not at all: every call here checks the status and raises
  `ToxiproxyError` with the server's own message;
- no timeouts (requests waits for ever by default): every call here carries one;
- `Proxy.add_toxic` discards the server's answer, and nothing reads one toxic or a proxy with its
  toxics back; there is no update of a toxic or a proxy, and `populate` destroys and re-creates:
  here `add_toxic` returns the toxic as the server stored it (defaults filled in), `list_toxics`
  and `proxy()` read attributes back, `update_toxic` and `ensure_proxy` change in place.

Toxics the suite adds are named with the `cfc_` prefix, so that `sweep()` can find and remove
what an earlier, crashed run left behind (DESIGN.md house rule 4).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator
from urllib.parse import urlsplit

import requests
from toxiproxy.api import APIConsumer, validate_response
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

__all__ = [
    "SUITE_PREFIX", "ToxiproxyAdmin", "ToxiproxyError", "ProxyInfo", "ToxicInfo", "LeftoverToxic",
    "InvalidToxic", "NotFound", "ProxyExists",
]

SUITE_PREFIX = "cfc_"

# APIConsumer.host/port are shared by every user of the library in this process.
_BIND_LOCK = threading.RLock()


class ToxiproxyError(Exception):
    """The Toxiproxy server could not be reached or answered with an error the library lets pass."""


@dataclass(frozen=True)
class ToxicInfo:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict) -> "ToxicInfo":
        return cls(name=data["name"], type=data["type"], stream=data.get("stream", "downstream"),
                   toxicity=float(data.get("toxicity", 1.0)), attributes=dict(data.get("attributes") or {}))


@dataclass(frozen=True)
class ProxyInfo:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[ToxicInfo, ...] = ()

    @classmethod
    def from_json(cls, data: dict) -> "ProxyInfo":
        return cls(name=data["name"], listen=data["listen"], upstream=data["upstream"],
                   enabled=bool(data["enabled"]),
                   toxics=tuple(ToxicInfo.from_json(t) for t in data.get("toxics") or ()))

    @property
    def listen_host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host, int(port)


@dataclass(frozen=True)
class LeftoverToxic:
    proxy: str
    toxic: ToxicInfo


class ToxiproxyAdmin:
    """Admin client for one Toxiproxy server, e.g. `ToxiproxyAdmin("http://127.0.0.1:8474")`."""

    def __init__(self, url: str, timeout: float = 5.0):
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if not parts.hostname or not parts.port:
            raise ValueError(f"Toxiproxy URL needs a host and a port: {url!r}")
        self.url = f"http://{parts.hostname}:{parts.port}"
        self._host, self._port = parts.hostname, parts.port
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"ToxiproxyAdmin({self.url!r})"

    # --- transport -------------------------------------------------------------------------
    @contextmanager
    def _bound(self) -> Iterator[None]:
        with _BIND_LOCK:
            saved = APIConsumer.host, APIConsumer.port
            APIConsumer.host, APIConsumer.port = self._host, self._port
            try:
                yield
            finally:
                APIConsumer.host, APIConsumer.port = saved

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        """One request through the library's transport; returns the decoded JSON body (or None)."""
        kwargs: dict[str, Any] = {"timeout": self.timeout}
        if payload is not None:
            kwargs["json"] = payload
        try:
            with self._bound():
                if method == "PATCH":  # the library has no PATCH; v2 deprecates POST for updates
                    response = validate_response(requests.patch(self.url + path, **kwargs))
                else:
                    response = getattr(APIConsumer, method.lower())(path, **kwargs)
        except requests.RequestException as exc:
            raise ToxiproxyError(f"Toxiproxy at {self.url} unreachable: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code >= 300:
            raise ToxiproxyError(f"Toxiproxy {method} {path} -> {response.status_code}: {_error_text(response)}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    # --- server ------------------------------------------------------------------------------
    def version(self) -> str:
        body = self._call("GET", "/version")
        return body["version"] if isinstance(body, dict) else str(body).strip()

    def reset(self) -> None:
        """Enable every proxy and remove every toxic (all of them, not only the suite's)."""
        self._call("POST", "/reset")

    # --- proxies -----------------------------------------------------------------------------
    def proxies(self) -> dict[str, ProxyInfo]:
        return {name: ProxyInfo.from_json(data) for name, data in self._call("GET", "/proxies").items()}

    def proxy(self, name: str) -> ProxyInfo:
        """The proxy with its toxics (attributes included); raises NotFound."""
        return ProxyInfo.from_json(self._call("GET", f"/proxies/{name}"))

    def ensure_proxy(self, name: str, listen: str, upstream: str) -> ProxyInfo:
        """Create the proxy, or bring an existing one to this upstream and listen address, enabled.

        `listen` may end in ":0" (the server picks a free port); an existing proxy then keeps its
        port. An existing proxy keeps its toxics.
        """
        try:
            current = self.proxy(name)
        except NotFound:
            return ProxyInfo.from_json(self._call(
                "POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream, "enabled": True}))
        change: dict[str, Any] = {}
        if current.upstream != upstream:
            change["upstream"] = upstream
        if not listen.endswith(":0") and current.listen != listen:
            change["listen"] = listen
        if not current.enabled:
            change["enabled"] = True
        if change:
            return ProxyInfo.from_json(self._call("PATCH", f"/proxies/{name}", change))
        return current

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}")

    def disable(self, proxy: str) -> ProxyInfo:
        """Stop listening and drop the proxy's connections (a partition)."""
        return ProxyInfo.from_json(self._call("PATCH", f"/proxies/{proxy}", {"enabled": False}))

    def enable(self, proxy: str) -> ProxyInfo:
        return ProxyInfo.from_json(self._call("PATCH", f"/proxies/{proxy}", {"enabled": True}))

    @contextmanager
    def down(self, proxy: str) -> Iterator[ProxyInfo]:
        """The proxy disabled for the block, enabled again on every exit path."""
        info = self.disable(proxy)
        try:
            yield info
        finally:
            self.enable(proxy)

    def disabled_proxies(self) -> list[str]:
        return sorted(name for name, info in self.proxies().items() if not info.enabled)

    # --- toxics ------------------------------------------------------------------------------
    def list_toxics(self, proxy: str) -> list[ToxicInfo]:
        return [ToxicInfo.from_json(t) for t in self._call("GET", f"/proxies/{proxy}/toxics")]

    def toxic(self, proxy: str, name: str) -> ToxicInfo:
        return ToxicInfo.from_json(self._call("GET", f"/proxies/{proxy}/toxics/{name}"))

    def add_toxic(self, proxy: str, type: str, attributes: dict[str, Any] | None = None,
                  stream: str = "downstream", toxicity: float = 1.0, name: str | None = None) -> ToxicInfo:
        """Add a toxic; returns it as the server stored it. Default name: cfc_<type>_<stream>."""
        payload = {"name": name or f"{SUITE_PREFIX}{type}_{stream}", "type": type, "stream": stream,
                   "toxicity": toxicity, "attributes": dict(attributes or {})}
        return ToxicInfo.from_json(self._call("POST", f"/proxies/{proxy}/toxics", payload))

    def update_toxic(self, proxy: str, name: str, attributes: dict[str, Any] | None = None,
                     toxicity: float | None = None) -> ToxicInfo:
        payload: dict[str, Any] = {"attributes": dict(attributes or {})}
        if toxicity is not None:
            payload["toxicity"] = toxicity
        return ToxicInfo.from_json(self._call("PATCH", f"/proxies/{proxy}/toxics/{name}", payload))

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    @contextmanager
    def toxic_applied(self, proxy: str, type: str, attributes: dict[str, Any] | None = None,
                      stream: str = "downstream", toxicity: float = 1.0,
                      name: str | None = None) -> Iterator[ToxicInfo]:
        """The toxic in place for the block, removed on every exit path."""
        toxic = self.add_toxic(proxy, type, attributes, stream, toxicity, name)
        try:
            yield toxic
        finally:
            try:
                self.remove_toxic(proxy, toxic.name)
            except NotFound:
                pass  # already gone (a reset in the block): nothing left to remove

    def sweep(self, prefix: str = SUITE_PREFIX) -> list[LeftoverToxic]:
        """Remove every toxic whose name starts with `prefix`, on every proxy; return what was found."""
        found = [LeftoverToxic(info.name, toxic) for info in self.proxies().values()
                 for toxic in info.toxics if toxic.name.startswith(prefix)]
        for leftover in found:
            try:
                self.remove_toxic(leftover.proxy, leftover.toxic.name)
            except NotFound:
                pass  # removed meanwhile by someone else: the goal is reached
        return found


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
        if isinstance(body, dict) and "error" in body:
            return str(body["error"])
    except ValueError:
        pass
    return response.text.strip()[:300]
