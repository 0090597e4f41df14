"""Domain errors raised by services; the web layer turns them into problem+json or a page."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400
    title = "Bad request"
    type_slug = "bad-request"

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}


class ValidationFailed(DomainError):
    status_code = 422
    title = "Invalid input"
    type_slug = "invalid-input"


class NotAuthenticated(DomainError):
    status_code = 401
    title = "Login required"
    type_slug = "login-required"


class PermissionDenied(DomainError):
    status_code = 403
    title = "Forbidden"
    type_slug = "forbidden"


class NotFound(DomainError):
    status_code = 404
    title = "Not found"
    type_slug = "not-found"


class Conflict(DomainError):
    status_code = 409
    title = "Conflict"
    type_slug = "conflict"


class Throttled(DomainError):
    status_code = 429
    title = "Too many attempts"
    type_slug = "throttled"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, extra={"retry_after": retry_after})
        self.retry_after = retry_after
