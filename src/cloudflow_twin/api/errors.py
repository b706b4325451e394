"""Error responses: every error body is {"error", "message", "status", "correlation_id"} (+ extras)."""
from __future__ import annotations

import json

from starlette.responses import Response

from .. import logs

UNAUTHORIZED = "Authentication credentials were not provided or are invalid"
BAD_SIGNATURE = "JWT signature verification failed"
FORBIDDEN = "User does not have required permissions for this operation"


class ApiError(Exception):
    """An HTTP error with the contract's body; `extra` fields are merged into the body."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict | None = None, **extra):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.extra = extra


def error_response(status: int, code: str, message: str, headers: dict | None = None, **extra) -> Response:
    body = {"error": code, "message": message, "status": status,
            "correlation_id": logs.correlation_id.get()}
    body.update(extra)
    return Response(json.dumps(body, separators=(",", ":")), status_code=status,
                    media_type="application/json", headers=headers)



def from_api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.headers, **exc.extra)
