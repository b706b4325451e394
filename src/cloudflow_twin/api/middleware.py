"""One pure-ASGI middleware for the hot path: correlation ids, authentication, rate limiting with
headers on every /api/v1 response, the 30000 ms request cap (PERF-01), metrics and error logging.

Pure ASGI (not BaseHTTPMiddleware) keeps per-request overhead low; a request over its rate limit is
answered here without entering routing or touching the database.
"""
from __future__ import annotations

import asyncio
import email.utils
import json
import re
import time

from .. import control, db, faults, logs
from . import metrics
from .common import new_id
from .errors import ApiError, error_response

_CORR_RE = re.compile(r"^corr_[a-z0-9]{10}$")
_ID_RE = re.compile(r"/(wf|exec|ws|wh)_[A-Za-z0-9_]+")
_ID_PARAM = {"wf": "wf_id", "exec": "exec_id", "ws": "ws_id", "wh": "wh_id"}
_PUBLIC = frozenset({"/health", "/openapi.json", "/metrics", "/auth/login", "/auth/refresh"})
api_log = logs.get_logger("api")
rl_log = logs.get_logger("ratelimit")


def needs_auth(path: str) -> bool:
    return path not in _PUBLIC and not path.startswith("/_twin/")


def rate_headers(decision, rejected: bool, active: frozenset) -> list[tuple[bytes, bytes]]:
    if not rejected and "headers_missing_on_success" in active:
        return []
    return [(b"x-ratelimit-limit", str(decision.limit).encode()),
            (b"x-ratelimit-remaining", str(decision.remaining).encode()),
            (b"x-ratelimit-reset", str(decision.reset).encode())]


def too_many_requests(decision, workspace_id: str, tier: str) -> tuple[list, bytes]:
    """Headers and body of the documented 429 (RATE-01), and its log line (LOG-03)."""
    active = control.enabled_faults()
    if "rate_limit_log_wording" in active:
        rl_log.warn(f"throttled request workspace={workspace_id} tier={tier}", error_type="throttled")
    else:
        rl_log.warn(f"rate_limit_exceeded workspace={workspace_id} tier={tier}",
                    error_type="rate_limit_exceeded", window=decision.blocked_by)
    n = decision.retry_after
    headers = rate_headers(decision, True, active)
    if "retry_after_http_date" in active:
        headers.append((b"retry-after", email.utils.formatdate(time.time() + n, usegmt=True).encode()))
    elif "retry_after_missing" not in active:
        headers.append((b"retry-after", str(n).encode()))
    message = ("Too many requests, please slow down." if "rate_limit_wording" in active
               else f"API rate limit exceeded. Retry after {n} seconds.")
    body = json.dumps({"error": "rate_limit_exceeded", "message": message, "status": 429,
                       "correlation_id": logs.correlation_id.get()}, separators=(",", ":")).encode()
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return headers, body


class TwinMiddleware:
    def __init__(self, app, twin):
        self.app, self.twin = app, twin
        self._endpoints: dict[str, str] = {}

    def _endpoint(self, scope) -> str:
        """The route template for metrics labels; unrouted paths (e.g. 429s) normalised by id prefix."""
        route = scope.get("route")
        if route is not None and hasattr(route, "path"):
            return route.path
        path = scope["path"]
        known = self._endpoints.get(path)
        if known is None:
            known = _ID_RE.sub(lambda m: "/{" + _ID_PARAM[m.group(1)] + "}", path)
            if len(self._endpoints) < 5000:
                self._endpoints[path] = known
        return known

    async def _send_429(self, send, extra: list, decision, workspace_id: str, tier: str) -> None:
        """Answer an over-limit request right here: no routing, no database (hot path under load)."""
        headers, body = too_many_requests(decision, workspace_id, tier)
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        path, method = scope["path"], scope["method"]
        headers = dict(scope["headers"])
        corr = headers.get(b"x-correlation-id", b"").decode("latin-1")
        if not _CORR_RE.match(corr):
            corr = new_id("corr_")
        corr_token = logs.correlation_id.set(corr)
        ctx_token = logs.log_context.set({})
        db_acc, ser_acc = [0.0], [0.0]
        db_token, ser_token = db.db_time.set(db_acc), metrics.serialization_time.set(ser_acc)
        extra = [(b"x-correlation-id", corr.encode())]
        sent = {"status": 0, "started": False, "error": bytearray()}

        async def send_wrapper(message, final: bool = False):
            if sent.get("closed") and not final:
                return  # a cancelled handler after the 504 went out
            if message["type"] == "http.response.start":
                sent["status"], sent["started"] = message["status"], True
                message["headers"] = list(message.get("headers", ())) + extra
            elif message["type"] == "http.response.body" and sent["status"] >= 400 and len(sent["error"]) < 4096:
                sent["error"] += message.get("body", b"")
            await send(message)

        auth_ms = 0.0
        short_circuit = False
        try:
            scope.setdefault("state", {})
            if needs_auth(path):
                t_auth = time.perf_counter()
                auth_value = headers.get(b"authorization")
                who = self.twin.tokens.principal(auth_value.decode("latin-1") if auth_value else None)
                scope["state"]["principal"] = who
                logs.log_context.set({"workspace_id": who.workspace_id})
                auth_ms = (time.perf_counter() - t_auth) * 1000
                if path.startswith("/api/v1/"):
                    limits = await self.twin.limits_for(who.workspace_id)
                    decision = self.twin.limiter.hit(who.workspace_id, control.twin_now())
                    scope["state"]["rate_decision"] = decision
                    if not decision.allowed:
                        short_circuit = True
                        await self._send_429(send_wrapper, extra, decision, who.workspace_id, limits.tier)
                        return
                    extra.extend(rate_headers(decision, False, control.enabled_faults()))
            if faults.is_on("no_request_cap"):
                await self.app(scope, receive, send_wrapper)
            else:
                # the handler runs as its own task so the 504 leaves at the cap even when cancelling
                # it takes longer (psycopg cancels a running query over a possibly slow link)
                cap = self.twin.settings.request_cap_ms
                task = asyncio.ensure_future(self.app(scope, receive, send_wrapper))
                done, _ = await asyncio.wait({task}, timeout=cap / 1000)
                if task in done:
                    task.result()
                else:
                    task.cancel()
                    task.add_done_callback(lambda t: t.cancelled() or t.exception())
                    if sent["started"]:
                        raise TimeoutError(f"request exceeded {cap}ms after the response started")
                    sent["closed"] = True
                    await error_response(504, "request_timeout", f"Request exceeded maximum duration of {cap}ms")(
                        scope, receive, lambda m: send_wrapper(m, final=True))
        except ApiError as exc:
            if not sent["started"]:
                await error_response(exc.status, exc.code, exc.message, exc.headers, **exc.extra)(
                    scope, receive, send_wrapper)
        except db.DatabaseUnavailable as exc:
            if not sent["started"]:
                from .app import database_error_response
                await database_error_response(exc)(scope, receive, send_wrapper)
        except Exception as exc:  # never a bare 500 without body, correlation id and log line
            api_log.error(f"unhandled error on {method} {path}: {type(exc).__name__}: {exc}",
                          error_type=type(exc).__name__)
            if not sent["started"]:
                await error_response(500, "internal_error", "Internal server error")(scope, receive, send_wrapper)
        finally:
            total = (time.perf_counter() - start) * 1000
            status = sent["status"] or 500
            endpoint = self._endpoint(scope)
            metrics.observe(method, endpoint, status, total, auth_ms, db_acc[0], ser_acc[0], not short_circuit)
            if status >= 400 and status != 429 or status == 429 and b"concurrent" in sent["error"]:
                try:
                    code = json.loads(bytes(sent["error"])).get("error", str(status))
                except ValueError:
                    code = str(status)
                emit = api_log.error if status >= 500 else api_log.warn
                emit(f"{method} {path} -> {status} {code}", error_type=code, status=status,
                     duration_ms=round(total, 1))
            db.db_time.reset(db_token)
            metrics.serialization_time.reset(ser_token)
            logs.log_context.reset(ctx_token)
            logs.correlation_id.reset(corr_token)
