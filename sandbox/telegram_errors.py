"""Errors raised by the Telegram Bot API emulator, shaped like the real server's answers.

Every failure becomes ``{"ok": false, "error_code": N, "description": "..."}``; the
constructors here keep the descriptions in one place so they match the real server's
wording (``Bad Request: ...``, ``Forbidden: ...``, ``Too Many Requests: retry after N``).
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A Bot API error answer; ``parameters`` becomes the ResponseParameters object."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(message: str) -> ApiError:
    """400 with the real server's prefix: ``Bad Request: <message>``."""
    return ApiError(400, f"Bad Request: {message}")


def forbidden(message: str) -> ApiError:
    return ApiError(403, f"Forbidden: {message}")


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})


def conflict(message: str) -> ApiError:
    return ApiError(409, f"Conflict: {message}")


UNAUTHORIZED = ApiError(401, "Unauthorized")
NOT_FOUND = ApiError(404, "Not Found")
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
