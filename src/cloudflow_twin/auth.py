"""Tokens (PyJWT, HS256 or RS256), passwords, and request authentication (AUTH-01..08).

Validation: signature first, then exp/iat/nbf against TWIN time with 300 s leeway. Signature checks
are cached per token string (bounded) so the hot path costs a dict lookup; time checks always run.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import uuid

import jwt
from cryptography.hazmat.primitives import serialization

from . import control, faults, logs
from .api.errors import BAD_SIGNATURE, FORBIDDEN, UNAUTHORIZED, ApiError
from .rbac import Principal

log = logs.get_logger("auth")
_PBKDF2_ROUNDS = 20000
_CACHE_MAX = 20000


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _PBKDF2_ROUNDS)
    return f"pbkdf2${_PBKDF2_ROUNDS}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, rounds, salt, digest = stored.split("$")
    except ValueError:
        return False
    got = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(rounds))
    return hmac.compare_digest(got.hex(), digest)


# What AUTH-03 covers: credentials missing, not a token at all, or a wrong password. Expiry,
# skew and signatures have behaviours of their own, so auth_500 leaves them alone.
MISSING_OR_INVALID = ("missing bearer token", "garbled token", "bad credentials")


def unauthorized(reason: str) -> ApiError:
    """401 with the documented wording (AUTH-03); fault auth_500 turns it into a 500."""
    log.warn(f"authentication failed: {reason}", error_type="unauthorized")
    if faults.is_on("auth_500") and reason.startswith(MISSING_OR_INVALID):
        return ApiError(500, "internal_error", "Internal server error")
    return ApiError(401, "unauthorized", UNAUTHORIZED)


def bad_signature() -> ApiError:
    log.warn("JWT signature verification failed", error_type="invalid_signature")
    return ApiError(401, "invalid_signature", BAD_SIGNATURE)


def forbidden(reason: str = "") -> ApiError:
    """403 with the documented wording (AUTH-06); fault forbidden_wording changes it."""
    if reason:
        log.warn(f"permission denied: {reason}", error_type="forbidden")
    message = "Access denied" if faults.is_on("forbidden_wording") else FORBIDDEN
    return ApiError(403, "forbidden", message)


def leeway_s(settings) -> int:
    if faults.is_on("skew_600"):
        return 600
    if faults.is_on("skew_0"):
        return 0
    return settings.leeway_s


class TokenService:
    """Issues and validates the twin's JWTs."""

    def __init__(self, settings):
        self.settings = settings
        self.alg = settings.jwt_alg
        if self.alg == "RS256":
            private = serialization.load_pem_private_key(settings.signing_key.encode(), password=None)
            self._sign_key = private
            self._verify_key = private.public_key()
        else:
            self._sign_key = self._verify_key = settings.signing_key
        self._verified: dict[str, dict] = {}

    def issue(self, sub: str, ws: str, roles: list, scopes: list, token_type: str = "access") -> tuple[str, int]:
        """A signed token and its lifetime in seconds (iat = nbf = twin now)."""
        if token_type == "refresh":
            ttl = self.settings.refresh_ttl_s
        else:
            ttl = 7200 if faults.is_on("token_ttl_7200") else self.settings.access_ttl_s
        now = int(control.twin_now())
        claims = {"sub": sub, "ws": ws, "roles": list(roles), "scopes": list(scopes), "type": token_type,
                  "iat": now, "nbf": now, "exp": now + ttl, "jti": uuid.uuid4().hex}
        return jwt.encode(claims, self._sign_key, algorithm=self.alg), ttl

    def _signature_checked(self, token: str) -> dict:
        if faults.is_on("signature_not_checked"):
            try:
                return jwt.decode(token, options={"verify_signature": False})
            except jwt.PyJWTError:
                raise unauthorized("garbled token") from None
        claims = self._verified.get(token)
        if claims is not None:
            return claims
        try:
            claims = jwt.decode(token, self._verify_key, algorithms=[self.alg],
                                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                                         "verify_aud": False, "require": ["exp", "iat", "sub"]})
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
            raise bad_signature() from None
        except jwt.PyJWTError as exc:
            raise unauthorized(f"invalid token: {exc}") from None
        if len(self._verified) >= _CACHE_MAX:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def validate(self, token: str, expected_type: str = "access") -> dict:
        """Claims of a valid token, else ApiError 401 (unauthorized / invalid_signature)."""
        claims = self._signature_checked(token)
        now, leeway = control.twin_now(), leeway_s(self.settings)
        try:
            exp, iat, nbf = float(claims["exp"]), float(claims["iat"]), float(claims.get("nbf", claims["iat"]))
        except (KeyError, TypeError, ValueError):
            raise unauthorized("malformed time claims") from None
        if now > exp + leeway:
            raise unauthorized(f"token expired (exp {int(exp)}, now {int(now)}, leeway {leeway}s)")
        if iat - leeway > now or nbf - leeway > now:
            raise unauthorized(f"token not yet valid: clock skew (iat {int(iat)}, now {int(now)}, leeway {leeway}s)")
        if claims.get("type", "access") != expected_type:
            raise unauthorized(f"wrong token type {claims.get('type')!r}")
        return claims

    def principal(self, authorization: str | None) -> Principal:
        """The caller of a request from its Authorization header, or ApiError 401."""
        if not authorization or not authorization.startswith("Bearer "):
            raise unauthorized("missing bearer token")
        claims = self.validate(authorization[7:].strip())
        return Principal(sub=claims["sub"], workspace_id=claims.get("ws", ""),
                         roles=list(claims.get("roles") or []), scopes=list(claims.get("scopes") or []),
                         claims=claims)

    def public_material(self) -> dict:
        """For the control API: what the suite needs to forge tokens (HS256 secret or RS256 PEM)."""
        return {"alg": self.alg, "key": self.settings.signing_key}
