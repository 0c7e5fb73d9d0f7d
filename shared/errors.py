"""The errors a client can cause, in the domain's vocabulary: no HTTP, no framework.

Pure rules (``domain.py``), use cases and consumers raise these; the web layer
(:mod:`shared.web`) maps each to an HTTP status in one table, and the consumers
(:mod:`shared.consumers`) dead-letter a message whose handling raised one.
"""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of the errors a client can cause; ``code`` is a stable machine name."""

    code = "error"

    def __init__(self, message: str, fields: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class InvalidInput(DomainError):
    code = "invalid_input"


class Unauthorized(DomainError):
    code = "unauthorized"


class Forbidden(DomainError):
    code = "forbidden"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"


class Unavailable(DomainError):
    code = "unavailable"
