"""Validation of Customer.custom_fields against the admin-defined CustomFieldDefinition rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from apps.customers.exceptions import InvalidCustomFields
from apps.customers.models import CustomFieldDefinition, CustomFieldType

_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def active_definitions() -> list[CustomFieldDefinition]:
    return list(CustomFieldDefinition.objects.filter(is_active=True))


def coerce_value(definition: CustomFieldDefinition, value: Any) -> Any:
    """Return the JSON value stored for `value`, or raise ValueError with a reader's message."""
    kind = definition.field_type
    if isinstance(value, str):
        value = value.strip()
    if kind == CustomFieldType.TEXT:
        return str(value)
    if kind == CustomFieldType.INTEGER:
        if isinstance(value, bool):
            raise ValueError("must be a whole number")
        try:
            number = Decimal(str(value))
        except InvalidOperation as exc:
            raise ValueError("must be a whole number") from exc
        if number != number.to_integral_value():
            raise ValueError("must be a whole number")
        return int(number)
    if kind == CustomFieldType.DECIMAL:
        if isinstance(value, bool):
            raise ValueError("must be a number")
        try:
            number = Decimal(str(value))
        except InvalidOperation as exc:
            raise ValueError("must be a number") from exc
        if not number.is_finite():
            raise ValueError("must be a number")
        return str(number)
    if kind == CustomFieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError("must be yes or no")
    if kind == CustomFieldType.DATE:
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError as exc:
            raise ValueError("must be a date as YYYY-MM-DD") from exc
    if kind == CustomFieldType.CHOICE:
        allowed = [str(c) for c in definition.choices or []]
        if str(value) not in allowed:
            raise ValueError(f"must be one of: {', '.join(allowed)}")
        return str(value)
    if kind == CustomFieldType.URL:
        try:
            URLValidator()(str(value))
        except ValidationError as exc:
            raise ValueError("must be a web address (https://...)") from exc
        return str(value)
    raise ValueError(f"has an unknown type {kind!r}")


def validate_custom_fields(
    data: Mapping[str, Any] | None,
    *,
    definitions: Iterable[CustomFieldDefinition] | None = None,
    partial: bool = False,
) -> dict[str, Any]:
    """Coerce every value to its definition's type; unknown keys, bad values and (unless partial)
    missing required fields raise InvalidCustomFields listing every problem at once."""
    defs = {d.key: d for d in (definitions if definitions is not None else active_definitions())}
    data = dict(data or {})
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for key, value in data.items():
        definition = defs.get(key)
        if definition is None:
            errors[key] = "is not a defined custom field"
            continue
        if value is None or value == "":
            if definition.required:
                errors[key] = "is required"
            continue
        try:
            cleaned[key] = coerce_value(definition, value)
        except ValueError as exc:
            errors[key] = str(exc)
    if not partial:
        for key, definition in defs.items():
            if definition.required and key not in data and key not in errors:
                errors[key] = "is required"
    if errors:
        raise InvalidCustomFields(errors)
    return cleaned
