"""Step failures carry a retry code (as in retry_on_errors) and the documented message."""
from __future__ import annotations

# default wording per code; flaky steps and simulated failures use these
DEFAULT_MESSAGES = {
    "NETWORK_ERROR": "NetworkError: Connection refused",
    "TIMEOUT": "TimeoutError: Operation timed out",
    "RATE_LIMIT": "RateLimitError: Rate limit exceeded",
    "EXTERNAL_API_ERROR": "ExternalAPIError: API request failed",
    "VALIDATION_ERROR": "ValidationError: validation failed",
    "DATABASE_ERROR": "DatabaseError: query failed",
}


class StepFailure(Exception):
    """A step attempt failed. `code` decides retries; `message` is what users read."""

    def __init__(self, code: str, message: str | None = None):
        self.code = code
        self.message = message or default_message(code)
        super().__init__(self.message)

    @property
    def error_type(self) -> str:
        return self.message.split(":", 1)[0]


def default_message(code: str) -> str:
    if code in DEFAULT_MESSAGES:
        return DEFAULT_MESSAGES[code]
    camel = "".join(part.capitalize() for part in code.split("_"))
    return f"{camel}: simulated failure"
