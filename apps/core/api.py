"""API plumbing shared by every app: pagination, parsing ids and other query-string values (a
bad value is a 400 naming the parameter, never a database error), and the one place domain
errors become HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.accounts.models import User
from apps.core.exceptions import DomainError


def request_user(request: Request) -> User:
    """The signed-in user behind a write; every write action's roles already turned anonymous away."""
    user = request.user
    assert isinstance(user, User)
    return user


MAX_ID = 2**63 - 1
"""The largest primary key a 64-bit id column holds: anything above it cannot name a row."""

ID_LOOKUP_PATTERN = "[^/]+"
"""Router lookup pattern for viewsets: whatever sits between two slashes reaches the viewset,
which answers JSON (404 for an id that is not one); the router's default also stops at a dot,
so /customers/1.5/ would miss the API and get the site's HTML 404 page."""


def parse_id(raw: object, *, field: str) -> int:
    """A row id given as text (a query parameter): a whole number from 1 to MAX_ID, or a
    ValidationError naming the field. int() alone takes '+1', ' 1', '١' and numbers no column holds."""
    text = str(raw).strip()
    if text.isascii() and text.isdigit():
        value = int(text)
        if 1 <= value <= MAX_ID:
            return value
    raise serializers.ValidationError({field: [f"{field} must be a whole number from 1 to {MAX_ID}."]})


def id_param(request: Request, name: str) -> int | None:
    """The id in query parameter `name`, None when absent or empty; 400 when it is not an id."""
    raw = (request.query_params.get(name) or "").strip()
    return parse_id(raw, field=name) if raw else None


def choice_param(request: Request, name: str, choices: list[str]) -> str | None:
    """The value of query parameter `name` when it is one of `choices`, None when absent; 400 otherwise."""
    raw = (request.query_params.get(name) or "").strip()
    if not raw:
        return None
    if raw not in choices:
        raise serializers.ValidationError({name: [f"{name} must be one of: {', '.join(choices)}."]})
    return raw


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def bool_param(request: Request, name: str) -> bool | None:
    raw = (request.query_params.get(name) or "").strip().lower()
    if not raw:
        return None
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise serializers.ValidationError({name: [f"{name} must be true or false."]})


def int_param(request: Request, name: str, *, low: int, high: int) -> int | None:
    raw = (request.query_params.get(name) or "").strip()
    if not raw:
        return None
    if raw.isascii() and raw.isdigit() and low <= int(raw) <= high:
        return int(raw)
    raise serializers.ValidationError({name: [f"{name} must be a whole number from {low} to {high}."]})


def datetime_param(request: Request, name: str) -> dt.datetime | None:
    """An ISO 8601 date-time (a date alone is its midnight); without an offset it is read in the
    server's time zone."""
    raw = (request.query_params.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
        if value is None:
            value = dt.datetime.combine(dt.date.fromisoformat(raw), dt.time())
    except ValueError:
        value = None
    if value is None:
        raise serializers.ValidationError(
            {name: [f"{name} must be an ISO 8601 date-time, e.g. 2026-12-03T14:05:00Z."]}
        )
    try:
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        # In UTC: PostgreSQL refuses offsets beyond its own range (+19:41) that Python reads.
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError) as exc:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise serializers.ValidationError({name: [f"{name} is out of the range of dates."]}) from exc


def text_param(request: Request, name: str) -> str | None:
    """Free text to match exactly; a NUL character (which no stored text holds, and PostgreSQL
    refuses to compare) is a 400."""
    raw = (request.query_params.get(name) or "").strip()
    if not raw:
        return None
    if "\x00" in raw:
        raise serializers.ValidationError({name: [f"{name} must not contain a NUL character."]})
    return raw


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def _not_found_by_id(context: dict[str, Any]) -> Response | None:
    """One message for every row a path names that is not there: "1.5", an id beyond 64 bits, a
    deleted row and a row the user may not see all read the same (no hint which it was)."""
    view = context.get("view")
    lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", None)
    value = (context.get("kwargs") or {}).get(lookup) if lookup else None
    basename = getattr(view, "basename", None)
    if value is None or not basename:
        return None
    noun = str(basename).replace("-", " ")
    return Response({"detail": f"No {noun} has id {value}."}, status=status.HTTP_404_NOT_FOUND)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response({"detail": str(exc), "code": exc.code}, status=exc.http_status)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404) and (not_found := _not_found_by_id(context)) is not None:
        return not_found
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        # A ValidationError raised with a bare message renders as a JSON list; every error body
        # is an object, so clients (and the schema) read one shape.
        response.data = {"detail": [str(item) for item in response.data]}
    return response


# ---------------------------------------------------------------------------------------------
# Schema: the error answers every operation really gives, so clients (and schemathesis in CI)
# read them from /api/schema/ instead of discovering them.
# ---------------------------------------------------------------------------------------------

_ERROR = {
    "type": "object",
    "description": "detail: what went wrong and what to do; code: a stable name for domain errors.",
    "properties": {
        "detail": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "code": {"type": "string"},
    },
    "required": ["detail"],
}
_FIELD_ERRORS = {
    "type": "object",
    "description": "Each invalid field with its messages; 'detail' or 'non_field_errors' for the request "
    "as a whole; 'code' for domain errors.",
    "additionalProperties": {},
}
_ERROR_RESPONSES = {
    "400": ("FieldErrors", "Invalid input: each field with what is wrong with it"),
    "401": ("Error", "No credentials, or a token that is unknown or expired"),
    "403": ("Error", "The user's role may not do this"),
    "404": ("Error", "No such row (or one the user may not see), or a page past the last"),
    "409": ("Error", "The row is not in a state that allows this (it changed meanwhile); nothing changed"),
    "415": ("Error", "A body in a media type the operation does not read (see its request body)"),
}
_STATEFUL_PREFIXES = ("/api/v1/interactions/", "/api/v1/agents/", "/api/v1/participants/")
"""Routes whose writes go through a state machine (offered, active, wrap-up; presence): any of
them may find the row moved on and answer 409."""
_LENIENT_QUERY = {"page", "page_size", "ordering"}
"""Query parameters DRF reads leniently (a bad value is ignored or, for page, a 404)."""


def _codes_for(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    query = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
    codes = []
    if "requestBody" in operation or query - _LENIENT_QUERY:
        codes.append("400")
    if operation.get("security") != [{}] and operation.get("security"):
        codes += ["401", "403"]
    if "{" in path or "page" in query:
        codes.append("404")
    if method != "get" and path.startswith(_STATEFUL_PREFIXES):
        codes.append("409")
    if "requestBody" in operation:
        codes.append("415")
    return codes


def schema_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]): add
    the 4xx answers of each operation, with their JSON body, keeping any an operation declares."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", _ERROR)
    schemas.setdefault("FieldErrors", _FIELD_ERRORS)
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code in _codes_for(path, method, operation):
                name, description = _ERROR_RESPONSES[code]
                responses.setdefault(code, {"description": description})
            for code, response in responses.items():
                if str(code).startswith("4") and "content" not in response:
                    name = "FieldErrors" if str(code) == "400" else "Error"
                    response["content"] = {
                        "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}
                    }
    return result
