"""Reading and forging JWTs for the token checks (forging needs the target's signing key)."""
from __future__ import annotations

import base64
import json
import time
import uuid

import jwt


def claims(token: str) -> dict:
    """The payload, unverified: what `cut -d. -f2 | base64 -d` shows in the guide."""
    return jwt.decode(token, options={"verify_signature": False})


def forge(target, base_claims: dict, **changes) -> str:
    """A token signed with the target's own key, with claims changed (capability signing_key)."""
    payload = dict(base_claims)
    payload.update(changes)
    payload["jti"] = uuid.uuid4().hex
    return jwt.encode(payload, target.signing_key, algorithm=target.signing_alg)


def shifted(target, base_claims: dict, shift_s: float, now: float | None = None) -> str:
    """A token as a client whose clock runs `shift_s` ahead (+) or behind (-) would see it."""
    now = time.time() if now is None else now
    ttl = base_claims["exp"] - base_claims["iat"]
    iat = int(now + shift_s)
    return forge(target, base_claims, iat=iat, nbf=iat, exp=iat + ttl)


def tamper(token: str) -> str:
    """The same token with one payload claim changed and the old signature kept."""
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["roles"] = ["platform-admin"]
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def resign(token: str, key: str = "not-the-real-key-" + uuid.uuid4().hex) -> str:
    """The same claims signed with another key."""
    return jwt.encode(claims(token), key, algorithm="HS256")
