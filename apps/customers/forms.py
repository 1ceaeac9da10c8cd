"""Forms of the customer pages. They parse and check input shape; the services decide the rest, and
the views put the services' domain errors back next to the field they concern."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from apps.accounts.models import User
from apps.customers.exceptions import InvalidContact, InvalidCustomFields
from apps.customers.models import (
    ContactPointKind,
    Customer,
    CustomFieldDefinition,
    CustomFieldType,
    LifecycleStage,
    SocialNetwork,
)
from apps.customers.normalize import normalize_email, normalize_phone

CUSTOM_FIELD_PREFIX = "cf_"
MAX_TAG_LENGTH = 64


@lru_cache(maxsize=1)
def time_zone_choices() -> list[tuple[str, str]]:
    zones = sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc/"))
    return [("", "Derive from the phone number"), *((z, z.replace("_", " ")) for z in zones)]


def parse_tags(text: str) -> list[str]:
    """'vip, renewal ,, vip' -> ['vip', 'renewal'] (order kept, duplicates and blanks dropped)."""
    seen: dict[str, str] = {}
    for raw in (text or "").split(","):
        name = " ".join(raw.split())
        if name and name.lower() not in seen:
            seen[name.lower()] = name
    return list(seen.values())


def _custom_field(definition: CustomFieldDefinition) -> forms.Field:
    """A form field whose widget suits the definition's type; values are checked again (and
    stored coerced) by the service."""
    common: dict[str, Any] = {
        "label": definition.label,
        "required": definition.required,
        "help_text": definition.help_text,
    }
    kind = definition.field_type
    if kind == CustomFieldType.INTEGER:
        return forms.IntegerField(**common)
    if kind == CustomFieldType.DECIMAL:
        return forms.DecimalField(**common)
    if kind == CustomFieldType.BOOLEAN:
        # A select, not a checkbox: "not answered" must stay distinct from "no".
        return forms.TypedChoiceField(
            choices=[("", "—"), ("true", "Yes"), ("false", "No")],
            coerce=lambda value: value == "true",
            empty_value=None,
            **common,
        )
    if kind == CustomFieldType.DATE:
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if kind == CustomFieldType.CHOICE:
        options = [(str(c), str(c)) for c in definition.choices or []]
        return forms.ChoiceField(choices=[("", "—"), *options], **common)
    if kind == CustomFieldType.URL:
        return forms.URLField(assume_scheme="https", **common)
    return forms.CharField(max_length=500, **common)


def _initial_custom_value(definition: CustomFieldDefinition, value: Any) -> Any:
    if definition.field_type == CustomFieldType.BOOLEAN and isinstance(value, bool):
        return "true" if value else "false"
    return value


class CustomerForm(forms.Form):
    """Create and edit a customer. Custom fields are added from the active definitions; on create
    the form also takes one phone and one email."""

    first_name = forms.CharField(max_length=100, required=False)
    last_name = forms.CharField(max_length=100, required=False)
    organization = forms.CharField(max_length=200, required=False, label="Organization")
    job_title = forms.CharField(max_length=100, required=False)
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        required=False,
        empty_label="Nobody",
    )
    lifecycle_stage = forms.ChoiceField(choices=LifecycleStage.choices, initial=LifecycleStage.LEAD)
    time_zone = forms.ChoiceField(
        choices=time_zone_choices,
        required=False,
        help_text="Left empty, it is derived from the phone number's country.",
    )
    tags = forms.CharField(
        max_length=1000,
        required=False,
        help_text="Comma separated, e.g. vip, renewal",
        widget=forms.TextInput(attrs={"placeholder": "vip, renewal"}),
    )
    phone = forms.CharField(
        max_length=40,
        required=False,
        help_text="Any format; without a country code it is read as a local number.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    email = forms.CharField(max_length=254, required=False, widget=forms.EmailInput())

    def __init__(
        self,
        *args: Any,
        definitions: Sequence[CustomFieldDefinition] = (),
        with_contacts: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.definitions = list(definitions)
        if not with_contacts:
            del self.fields["phone"]
            del self.fields["email"]
        for definition in self.definitions:
            self.fields[CUSTOM_FIELD_PREFIX + definition.key] = _custom_field(definition)

    @classmethod
    def initial_for(cls, customer: Customer, definitions: Iterable[CustomFieldDefinition]) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "organization": customer.organization.name if customer.organization else "",
            "job_title": customer.job_title,
            "owner": customer.owner_id,
            "lifecycle_stage": customer.lifecycle_stage,
            "time_zone": customer.time_zone,
            "tags": ", ".join(tag.name for tag in customer.tags.all()),
        }
        for definition in definitions:
            if definition.key in customer.custom_fields:
                initial[CUSTOM_FIELD_PREFIX + definition.key] = _initial_custom_value(
                    definition, customer.custom_fields[definition.key]
                )
        return initial

    @property
    def custom_field_names(self) -> list[str]:
        return [CUSTOM_FIELD_PREFIX + d.key for d in self.definitions]

    def custom_bound_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.custom_field_names]

    def clean_tags(self) -> list[str]:
        tags = parse_tags(self.cleaned_data.get("tags", ""))
        too_long = [t for t in tags if len(t) > MAX_TAG_LENGTH]
        if too_long:
            raise ValidationError(f"A tag is limited to {MAX_TAG_LENGTH} characters: {too_long[0][:20]}…")
        return tags

    def clean_phone(self) -> str:
        value = self.cleaned_data.get("phone", "").strip()
        if value:
            try:
                normalize_phone(value, settings.DEFAULT_PHONE_REGION)
            except InvalidContact as exc:
                raise ValidationError(str(exc)) from exc
        return value

    def clean_email(self) -> str:
        value = self.cleaned_data.get("email", "").strip()
        if value:
            try:
                normalize_email(value)
            except InvalidContact as exc:
                raise ValidationError(str(exc)) from exc
        return value

    def custom_field_values(self) -> dict[str, Any]:
        """Custom field values keyed by definition key; unanswered ones are None (the service
        removes them on update and reports required ones)."""
        values: dict[str, Any] = {}
        for definition in self.definitions:
            value = self.cleaned_data.get(CUSTOM_FIELD_PREFIX + definition.key)
            values[definition.key] = None if value in (None, "") else value
        return values

    def add_domain_error(self, error: Exception) -> None:
        """Show a service's domain error next to the field it is about (or above the form)."""
        if isinstance(error, InvalidCustomFields):
            labels = {d.key: d.label for d in self.definitions}
            for key, message in error.errors.items():
                name = CUSTOM_FIELD_PREFIX + key
                if name in self.fields:
                    self.add_error(name, f"{labels[key]} {message}.")
                else:
                    self.add_error(None, f"Custom field {key!r} {message}.")
            return
        if isinstance(error, ValidationError):
            if hasattr(error, "error_dict"):
                for field, messages in error.message_dict.items():
                    target = {"organization_name": "organization"}.get(field, field)
                    self.add_error(target if target in self.fields else None, messages)
            else:
                self.add_error(None, error.messages)
            return
        self.add_error(None, str(error))


class NoteForm(forms.Form):
    body = forms.CharField(
        label="Add a note",
        max_length=20000,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "What happened, what was agreed, what comes next"}
        ),
    )


class ContactPointForm(forms.Form):
    kind = forms.ChoiceField(choices=ContactPointKind.choices, initial=ContactPointKind.PHONE)
    network = forms.ChoiceField(
        choices=[("", "—"), *SocialNetwork.choices], required=False, help_text="For social handles"
    )
    value = forms.CharField(max_length=254, label="Phone, email or handle")
    label = forms.CharField(
        max_length=32, required=False, widget=forms.TextInput(attrs={"placeholder": "mobile, work, home"})
    )
    is_primary = forms.BooleanField(required=False, label="Primary")

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        if (
            cleaned is not None
            and cleaned.get("kind") == ContactPointKind.SOCIAL
            and not cleaned.get("network")
        ):
            self.add_error("network", "Choose the network of the handle.")
        return cleaned


CONSENT_FLAGS = {
    "do_not_call": "Do not call",
    "email_opt_out": "Email opt-out",
    "sms_opt_in": "SMS opt-in",
}


class ConsentForm(forms.Form):
    consent = forms.ChoiceField(choices=list(CONSENT_FLAGS.items()))
    value = forms.TypedChoiceField(choices=[("1", "on"), ("0", "off")], coerce=lambda v: v == "1")


class MergeForm(forms.Form):
    """The merge page posts the survivor (one of the two shown) and the other customer's id."""

    survivor = forms.IntegerField()
    other = forms.IntegerField()
