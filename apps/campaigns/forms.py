"""Forms of the marketers' pages. They parse and check what was typed; the services
(apps.campaigns.services.campaigns) decide whether the campaign holds together and write it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import URLField
from django.forms.models import fields_for_model

from apps.campaigns.models import ALL_DAYS, Campaign, ContactList, default_days
from apps.customers.exceptions import InvalidContact
from apps.customers.models import LifecycleStage
from apps.customers.normalize import normalize_phone
from apps.interactions.models import DispositionCategory

DAY_LABELS = {
    "mon": "Mon",
    "tue": "Tue",
    "wed": "Wed",
    "thu": "Thu",
    "fri": "Fri",
    "sat": "Sat",
    "sun": "Sun",
}

# The form's sections, in the order the page shows them, with the campaign settings each holds.
SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "channel",
        "1. Channel and dial mode",
        (
            "name",
            "description",
            "channel",
            "dial_mode",
            "queue",
            "disposition_set",
            "caller_id",
            "lines_per_agent",
            "max_abandon_percent",
        ),
    ),
    (
        "window",
        "3. Calling window and attempts",
        (
            "window_start",
            "window_end",
            "window_days",
            "time_zone",
            "holiday_country",
            "holiday_subdivision",
            "max_attempts_per_lead",
            "max_attempts_per_number",
            "starts_at",
            "ends_at",
        ),
    ),
    (
        "message",
        "4. Message",
        (
            "message_subject",
            "message_body",
            "recording_url",
            "broadcast_action",
            "broadcast_lines",
            "sends_per_minute",
        ),
    ),
)
CAMPAIGN_FIELDS: tuple[str, ...] = tuple(name for _, _, names in SECTIONS for name in names)
# Retry rules are set per disposition category; the others end a lead.
RETRY_CATEGORIES: tuple[str, ...] = (
    DispositionCategory.NO_ANSWER,
    DispositionCategory.BUSY,
    DispositionCategory.VOICEMAIL,
    DispositionCategory.CALLBACK,
    DispositionCategory.CONTACT_MADE,
    DispositionCategory.OTHER,
)
LISTS_SHOWN = 50

WIDGETS: dict[str, type[forms.Widget] | forms.Widget] = {
    "description": forms.Textarea(attrs={"rows": 2}),
    "message_body": forms.Textarea(attrs={"rows": 4}),
    "window_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    "window_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    "starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    "ends_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
}
HELP = {
    "message_body": "Merge fields in braces: {first_name}, {custom.plan}, {lead.order_number}.",
    "window_start": "Never before 08:00 in the lead's local time.",
    "window_end": "Never after 21:00 in the lead's local time.",
    "time_zone": "IANA name, e.g. America/Chicago: used for a lead whose own zone is unknown.",
}


@dataclass(frozen=True)
class ListChoice:
    """A list attached to the campaign, with its priority and weight."""

    contact_list_id: int
    priority: int
    weight: int


@dataclass(frozen=True)
class RetryChoice:
    category: str
    delay_minutes: int
    max_attempts: int | None


def _formfield(db_field: Any, **kwargs: Any) -> forms.Field | None:
    if isinstance(db_field, URLField):
        kwargs.setdefault("assume_scheme", "https")  # a recording is fetched over HTTPS
    return db_field.formfield(**kwargs)


def _or_default(value: int | None, default: int) -> int:
    return default if value is None else value


class CampaignForm(forms.Form):
    """Every setting of a campaign on one page, in sections; the audience (attached lists with
    priority and weight) and the retry rules per disposition category are extra fields built
    from the lists and categories that exist. The fields come from the model (labels, choices,
    help texts); the service, not the model's clean(), judges the whole (campaign_validate)."""

    def __init__(
        self,
        *args: Any,
        contact_lists: Iterable[ContactList] = (),
        links: dict[int, tuple[int, int]] | None = None,
        retry_rules: dict[str, tuple[int, int | None]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(
            fields_for_model(
                Campaign,
                fields=CAMPAIGN_FIELDS,
                widgets=WIDGETS,
                help_texts=HELP,
                formfield_callback=_formfield,
            )
        )
        self.fields["window_days"] = forms.MultipleChoiceField(
            choices=[(day, DAY_LABELS[day]) for day in ALL_DAYS],
            widget=forms.CheckboxSelectMultiple,
            initial=default_days,
            label="Days",
            help_text="Days the campaign contacts leads, in each lead's own local time.",
        )
        self.fields["time_zone"].initial = self.fields["time_zone"].initial or settings.TIME_ZONE
        self.contact_lists = list(contact_lists)
        links = links or {}
        retry_rules = retry_rules or {}
        for contact_list in self.contact_lists:
            priority, weight = links.get(contact_list.pk, (0, 1))
            prefix = f"list_{contact_list.pk}"
            self.fields[f"{prefix}_attach"] = forms.BooleanField(
                required=False, initial=contact_list.pk in links, label=f"Attach {contact_list.name}"
            )
            # Not required: a list left unattached needs neither; an attached one falls back
            # to the defaults (priority 0, weight 1).
            self.fields[f"{prefix}_priority"] = forms.IntegerField(
                required=False,
                min_value=0,
                max_value=100,
                initial=priority,
                label=f"Priority of {contact_list.name}",
            )
            self.fields[f"{prefix}_weight"] = forms.IntegerField(
                required=False,
                min_value=1,
                max_value=100,
                initial=weight,
                label=f"Weight of {contact_list.name}",
            )
        for category in RETRY_CATEGORIES:
            delay, cap = retry_rules.get(category, (None, None))
            label = DispositionCategory(category).label
            self.fields[f"retry_{category}_delay"] = forms.IntegerField(
                required=False,
                min_value=1,
                max_value=60 * 24 * 30,
                initial=delay,
                label=f"{label}: retry after (minutes)",
            )
            self.fields[f"retry_{category}_max"] = forms.IntegerField(
                required=False, min_value=1, max_value=50, initial=cap, label=f"{label}: at most (attempts)"
            )

    def clean_caller_id(self) -> str:
        """The number the customer sees, in E.164 (a number the carrier cannot present is
        better refused here than at the first dial)."""
        raw = str(self.cleaned_data.get("caller_id") or "").strip()
        if not raw:
            return ""
        try:
            return normalize_phone(raw, settings.DEFAULT_PHONE_REGION)
        except InvalidContact as exc:
            raise ValidationError(f"{exc} Write it with its country code, e.g. +14155550100.") from exc

    def clean_holiday_country(self) -> str:
        import holidays

        country = str(self.cleaned_data.get("holiday_country") or "").strip().upper()
        if country and country not in holidays.list_supported_countries():
            raise ValidationError(
                f"No public holiday calendar is known for {country!r}: give a two-letter country "
                "code such as US, GB or DE, or leave it empty."
            )
        return country

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        country = cleaned.get("holiday_country") or ""
        subdivision = str(cleaned.get("holiday_subdivision") or "").strip().upper()
        if subdivision and not country:
            self.add_error("holiday_subdivision", "Give the holiday country this subdivision belongs to.")
        elif subdivision:
            import holidays

            known = holidays.list_supported_countries().get(country, [])
            if subdivision not in known:
                self.add_error(
                    "holiday_subdivision",
                    f"{country} has no subdivision {subdivision!r} in its holiday calendar"
                    + (f" (for example {', '.join(known[:5])})." if known else "; leave it empty."),
                )
        cleaned["holiday_subdivision"] = subdivision
        for category in RETRY_CATEGORIES:
            if cleaned.get(f"retry_{category}_max") and not cleaned.get(f"retry_{category}_delay"):
                self.add_error(
                    f"retry_{category}_delay",
                    "Give the delay before a retry, or leave both fields of this outcome empty.",
                )
        return cleaned

    def campaign_fields(self) -> dict[str, Any]:
        values = {name: self.cleaned_data.get(name) for name in CAMPAIGN_FIELDS}
        values["window_days"] = list(values["window_days"] or [])
        for text in (
            "description",
            "caller_id",
            "holiday_country",
            "holiday_subdivision",
            "message_subject",
            "message_body",
            "recording_url",
            "broadcast_action",
        ):
            values[text] = values[text] or ""
        values["holiday_country"] = str(values["holiday_country"]).upper()
        values["holiday_subdivision"] = str(values["holiday_subdivision"]).upper()
        return values

    def list_choices(self) -> list[ListChoice]:
        return [
            ListChoice(
                contact_list_id=contact_list.pk,
                priority=_or_default(self.cleaned_data.get(f"list_{contact_list.pk}_priority"), 0),
                weight=_or_default(self.cleaned_data.get(f"list_{contact_list.pk}_weight"), 1),
            )
            for contact_list in self.contact_lists
            if self.cleaned_data.get(f"list_{contact_list.pk}_attach")
        ]

    def retry_choices(self) -> list[RetryChoice]:
        return [
            RetryChoice(
                category=category,
                delay_minutes=self.cleaned_data[f"retry_{category}_delay"],
                max_attempts=self.cleaned_data.get(f"retry_{category}_max"),
            )
            for category in RETRY_CATEGORIES
            if self.cleaned_data.get(f"retry_{category}_delay")
        ]

    def sections(self) -> list[tuple[str, str, list[forms.BoundField]]]:
        return [(key, title, [self[name] for name in names]) for key, title, names in SECTIONS]

    def list_rows(self) -> list[tuple[ContactList, forms.BoundField, forms.BoundField, forms.BoundField]]:
        return [
            (
                contact_list,
                self[f"list_{contact_list.pk}_attach"],
                self[f"list_{contact_list.pk}_priority"],
                self[f"list_{contact_list.pk}_weight"],
            )
            for contact_list in self.contact_lists
        ]

    def retry_rows(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        return [
            (
                DispositionCategory(category).label,
                self[f"retry_{category}_delay"],
                self[f"retry_{category}_max"],
            )
            for category in RETRY_CATEGORIES
        ]

    def add_service_error(self, message: str) -> None:
        add_service_error(self, message)


def add_service_error(form: forms.Form, message: str) -> None:
    """The services say "field: reason" (or "a/b: reason"): the reason goes on the field the page
    shows, else the whole message on the form."""
    head, sep, reason = message.partition(":")
    if sep:
        for name in head.split("/"):
            name = name.strip()
            if name in form.fields:
                form.add_error(name, reason.strip())
                return
    form.add_error(None, message)


class ListUploadForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="How marketers will know this list.")
    file = forms.FileField(help_text="A .csv or .xlsx file whose first row names the columns.")
    default_region = forms.CharField(
        max_length=2,
        initial=settings.DEFAULT_PHONE_REGION,
        help_text="Country for phone numbers written without +country code (e.g. US, GB, DE).",
    )
    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.exclude(status="completed"),
        required=False,
        empty_label="— keep the list on its own —",
        help_text="Attach the list to this campaign at once.",
    )
    priority = forms.IntegerField(min_value=0, max_value=100, initial=0)
    weight = forms.IntegerField(min_value=1, max_value=100, initial=1)
    appointment_field = forms.CharField(
        max_length=64, required=False, help_text="Appointment reminders: the column with the date and time."
    )
    remind_hours_before = forms.IntegerField(
        min_value=1, max_value=24 * 14, required=False, help_text="Appointment reminders: hours before it."
    )

    def clean_default_region(self) -> str:
        from phonenumbers import SUPPORTED_REGIONS

        region = str(self.cleaned_data["default_region"]).strip().upper()
        if region not in SUPPORTED_REGIONS:
            raise ValidationError(f"{region!r} is not a country code for phone numbers (e.g. US, GB, DE).")
        return region

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("appointment_field") and not cleaned.get("remind_hours_before"):
            self.add_error("remind_hours_before", "Say how many hours before the appointment to remind.")
        if cleaned.get("remind_hours_before") and not cleaned.get("appointment_field"):
            self.add_error("appointment_field", "Name the column that holds the appointment.")
        return cleaned

    def clean_file(self) -> Any:
        from apps.customers.services.imports import max_upload_bytes, upload_too_large_message

        upload = self.cleaned_data["file"]
        if upload.size > max_upload_bytes():
            raise ValidationError(upload_too_large_message())
        return upload


def _names(text: str) -> list[str]:
    """Comma-separated names, trimmed, empty ones dropped, each once."""
    return list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))


class SegmentForm(forms.Form):
    """A saved customer segment as a contact list: tags, lifecycle stages and custom fields, all
    combined (apps.campaigns.segments judges the filters and names the one at fault)."""

    name = forms.CharField(max_length=100, help_text="How marketers will know this segment.")
    tags = forms.CharField(
        required=False, max_length=1000, help_text="Customers with every one of these tags, comma-separated."
    )
    tags_any = forms.CharField(
        required=False,
        max_length=1000,
        label="Any of the tags",
        help_text="Customers with at least one of these tags, comma-separated.",
    )
    exclude_tags = forms.CharField(
        required=False,
        max_length=1000,
        label="None of the tags",
        help_text="Customers with any of these tags are left out, comma-separated.",
    )
    lifecycle_stage = forms.MultipleChoiceField(
        required=False,
        choices=LifecycleStage.choices,
        widget=forms.CheckboxSelectMultiple,
        label="Lifecycle stages",
        help_text="Any of these stages; none ticked: every stage.",
    )
    custom_fields = forms.CharField(
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='As JSON, e.g. {"plan": "gold", "seats": {"gte": 10}}: a value, a list of values or a range.',
    )
    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.exclude(status="completed"),
        required=False,
        empty_label="— keep the segment on its own —",
        help_text="Attach it to this campaign at once: a lead for each customer it selects now.",
    )
    priority = forms.IntegerField(min_value=0, max_value=100, initial=0)
    weight = forms.IntegerField(min_value=1, max_value=100, initial=1)

    def clean_custom_fields(self) -> dict[str, Any]:
        text = str(self.cleaned_data.get("custom_fields") or "").strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f'Not valid JSON ({exc.msg} at character {exc.pos + 1}); write it like {{"plan": "gold"}}.'
            ) from exc
        if not isinstance(value, dict):
            raise ValidationError('An object of custom field -> value, e.g. {"plan": "gold"}.')
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors and not self.filters():
            self.add_error(None, "Give at least one filter: a segment of every customer is not a target.")
        return cleaned

    def filters(self) -> dict[str, Any]:
        """The segment's filters (apps.campaigns.segments), only those given."""
        data = self.cleaned_data
        filters: dict[str, Any] = {}
        for key in ("tags", "tags_any", "exclude_tags"):
            names = _names(str(data.get(key) or ""))
            if names:
                filters[key] = names
        if data.get("lifecycle_stage"):
            filters["lifecycle_stage"] = list(data["lifecycle_stage"])
        if data.get("custom_fields"):
            filters["custom_fields"] = data["custom_fields"]
        return filters

    def add_segment_error(self, message: str) -> None:
        """InvalidSegment names its key ("tags: ...", "custom_fields.plan: ..."): the reason goes
        on that field, with the custom field's name kept."""
        head, sep, reason = message.partition(":")
        if sep:
            top, _, inner = head.strip().partition(".")
            if top in self.fields:
                self.add_error(top, f"{inner}: {reason.strip()}" if inner else reason.strip())
                return
        add_service_error(self, message)
