"""API plumbing shared by every app: pagination, parsing ids from the query string, and the one
place domain errors become HTTP."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.exceptions import DomainError

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
