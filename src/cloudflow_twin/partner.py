"""`cloudflow-twin partner`: the partner-API stub that external_api steps call (WF-07).

GET /v1/data answers 200 with data, or the configured failure after the configured delay.
Control (no auth, loopback only): PUT|GET /_partner/mode, GET /_partner/calls,
POST /_partner/calls/reset.
"""
from __future__ import annotations

import asyncio
import ipaddress
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ALLOWED_STATUS = (200, 429, 500, 502, 503, 504)
MAX_DELAY_MS = 60000
DATA = [{"id": i, "customer_id": f"cust_{i:04d}", "amount": round(10.5 * i, 2)} for i in range(1, 6)]


class PartnerState:
    def __init__(self):
        self.status = 200
        self.delay_ms = 0
        self.calls = 0

    def mode(self) -> dict:
        return {"status": self.status, "delay_ms": self.delay_ms}


def _is_loopback(request: Request) -> bool:
    try:
        return ipaddress.ip_address(request.client.host).is_loopback if request.client else False
    except ValueError:
        return request.client.host == "localhost"


def create_app(log) -> Starlette:
    state = PartnerState()

    async def data(request: Request) -> JSONResponse:
        state.calls += 1
        status, delay_ms = state.status, state.delay_ms  # the mode when the call arrived
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        if status == 200:
            log.info("GET /v1/data 200", status=200, delay_ms=delay_ms, call=state.calls)
            return JSONResponse({"data": DATA, "served_at": time.time()})
        log.warn(f"GET /v1/data {status} (configured failure)", status=status, delay_ms=delay_ms)
        return JSONResponse({"error": "upstream_failure", "message": f"configured status {status}",
                             "status": status}, status_code=status)

    async def control(request: Request) -> JSONResponse:
        if not _is_loopback(request):
            return JSONResponse({"error": "forbidden", "message": "loopback only"}, status_code=403)
        path, method = request.url.path, request.method
        if path == "/_partner/mode" and method == "PUT":
            try:
                body = await request.json()
                status = int(body.get("status", state.status))
                delay_ms = int(body.get("delay_ms", 0))
            except (ValueError, TypeError, AttributeError):
                return JSONResponse({"error": "invalid_request", "message": "JSON body "
                                     "{\"status\", \"delay_ms\"} expected"}, status_code=422)
            if status not in ALLOWED_STATUS or not 0 <= delay_ms <= MAX_DELAY_MS:
                return JSONResponse({"error": "invalid_request", "message": f"status must be one of "
                                     f"{ALLOWED_STATUS}, delay_ms 0..{MAX_DELAY_MS}"}, status_code=422)
            state.status, state.delay_ms = status, delay_ms
            log.info(f"mode set: status {status}, delay {delay_ms}ms", **state.mode())
            return JSONResponse(state.mode())
        if path == "/_partner/mode":
            return JSONResponse(state.mode())
        if path == "/_partner/calls" and method == "GET":
            return JSONResponse({"count": state.calls})
        state.calls = 0  # POST /_partner/calls/reset
        log.info("call counter reset")
        return JSONResponse({"count": 0})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "healthy", **state.mode()})

    return Starlette(routes=[
        Route("/v1/data", data, methods=["GET"]),
        Route("/_partner/mode", control, methods=["GET", "PUT"]),
        Route("/_partner/calls", control, methods=["GET"]),
        Route("/_partner/calls/reset", control, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ])


def run(host: str = "127.0.0.1", port: int = 8090) -> None:
    import uvicorn

    from cloudflow_twin import logs

    logs.configure("partner")  # TWIN_STATE_DIR/logs/partner.log (stderr when unset)
    log = logs.get_logger("partner")
    log.info(f"partner API stub listening on {host}:{port}")
    uvicorn.run(create_app(log), host=host, port=port, log_config=None, access_log=False)
