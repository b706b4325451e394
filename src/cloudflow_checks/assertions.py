"""Assertions the checks share: documented status and wording, with messages that say what came."""
from __future__ import annotations


def error_body(response) -> dict:
    """The JSON error body, or an assertion that says what came instead."""
    try:
        return response.json()
    except ValueError:
        raise AssertionError(f"HTTP {response.status_code} with a non-JSON body: {response.text[:200]!r}") from None


def assert_status(response, status: int) -> None:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path}: expected HTTP {status}, "
        f"got {response.status_code}: {response.text[:300]}")


def assert_error(response, status: int, message: str) -> dict:
    """Status and wording exactly as documented."""
    assert_status(response, status)
    body = error_body(response)
    assert body.get("message") == message, f"expected message {message!r}, got {body.get('message')!r}"
    return body


def json_of(response, status: int = 200) -> dict:
    assert_status(response, status)
    return response.json()
