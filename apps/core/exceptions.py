"""Domain errors. Each app subclasses DomainError; apps.core.api maps them to HTTP in one place."""

from __future__ import annotations


class DomainError(Exception):
    code = "error"
    http_status = 400


class NotAllowed(DomainError):
    code = "not_allowed"
    http_status = 403


class Conflict(DomainError):
    code = "conflict"
    http_status = 409
