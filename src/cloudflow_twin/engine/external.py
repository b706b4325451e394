"""external_api step (WF-07): GET the partner API through the breaker, with cached fallback."""
from __future__ import annotations

import httpx

from . import breaker
from .context import StepContext
from .errors import StepFailure


def _network_reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "Connection refused"
    if isinstance(exc, (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError)):
        return "Connection reset by peer"
    return type(exc).__name__


async def _call(ctx: StepContext, url: str):
    """One GET; returns the JSON body or raises StepFailure with the documented wording."""
    try:
        resp = await ctx.rt.partner_client().get(url)
    except httpx.TimeoutException:
        raise StepFailure("TIMEOUT", f"ExternalAPIError: API request to {url} timed out")
    except httpx.HTTPError as exc:
        raise StepFailure("NETWORK_ERROR", f"NetworkError: {_network_reason(exc)}")
    if not 200 <= resp.status_code < 300:
        raise StepFailure("EXTERNAL_API_ERROR",
                          f"ExternalAPIError: API request to {url} failed with status {resp.status_code}")
    try:
        return resp.status_code, resp.json()
    except ValueError:
        return resp.status_code, {"text": resp.text[:2000]}


async def run_external_api(ctx: StepContext) -> dict:
    rt, spec, name = ctx.rt, ctx.spec, ctx.step.name
    url = rt.partner_url.rstrip("/") + "/" + str(spec.get("path") or "/v1/data").lstrip("/")
    cfg = breaker.BreakerConfig.from_step(spec, rt.settings)
    decision = await breaker.acquire(rt, ctx.state, name, cfg)
    if decision == breaker.REJECT:
        # not in the retry list: retrying against an open breaker only burns the backoff
        failure = StepFailure("CIRCUIT_OPEN",
                              f"ExternalAPIError: circuit breaker open for {url}, request not sent")
        breaker_state = "open"
    else:
        try:
            status, body = await _call(ctx, url)
        except StepFailure as exc:
            failure = exc
            breaker_state = await breaker.record(rt, ctx.state, name, cfg, ok=False)
        else:
            breaker_state = await breaker.record(rt, ctx.state, name, cfg, ok=True, data=body)
            return {"status_code": status, "data": body, "circuit_breaker": breaker_state,
                    "trial": decision == breaker.TRIAL}
    fallback = spec.get("fallback") or {}
    if fallback and fallback.get("action", rt.settings.breaker_fallback) == "use_cached_data" \
            and not rt.fault("no_fallback"):
        hit = await breaker.cached(rt, ctx.state, name, float(fallback.get("cache_ttl", rt.settings.breaker_cache_ttl_s)))
        if hit is not None:
            rt.log.warn(f"step {name} using cached data: {failure.message}", step=name,
                        **ctx.state.ids)
            return {"fallback": "use_cached_data", "data": hit["data"], "cached_at": hit["cached_at"],
                    "error": failure.message, "circuit_breaker": breaker_state}
    raise failure
