"""Outbound campaigns in the Django admin (the Admin role's home; the site lets only staff in).

Campaign settings are saved through campaign_create/campaign_update (their refusals land on the
form's fields and nothing is kept), status changes are actions that call campaign_set_status,
and the lead bulk actions call apps.campaigns.services.leads. Attempts and the compliance gate's
contact log are history: read only. Numbers go on a do-not-call list through dnc_add.
Lists that grow to millions of rows (leads, attempts, the contact log, do-not-call entries) use
the estimated-count paginator and exact-value searches that their indexes answer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import zoneinfo
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django_celery_beat.models import PeriodicTask

from apps.accounts.models import User
from apps.campaigns.exceptions import InvalidCampaign
from apps.campaigns.models import (
    DIALLABLE_STATUSES,
    AttemptStatus,
    Campaign,
    CampaignChannel,
    CampaignList,
    CampaignStatus,
    CampaignStatusChange,
    ContactList,
    ContactLog,
    DncEntry,
    DncList,
    DncListKind,
    Lead,
    LeadAttempt,
    LeadStatus,
    RetryRule,
)
from apps.campaigns.services.campaigns import (
    EDITABLE_FIELDS,
    campaign_create,
    campaign_set_status,
    campaign_update,
    campaign_validate,
)
from apps.campaigns.services.dnc import dnc_add
from apps.campaigns.services.leads import (
    leads_mark_dnc,
    leads_move,
    leads_recycle,
    leads_reset,
    leads_set_priority,
)
from apps.core.actors import require_person
from apps.core.admin import LargeTableAdmin
from apps.core.exceptions import DomainError
from apps.core.models import AuditEntry
from apps.customers.admin import FormErrors, ServiceErrorsForm, ServiceRejected, ThroughServicesAdmin
from apps.customers.exceptions import InvalidContact
from apps.customers.normalize import normalize_email, normalize_phone
from apps.interactions.models import Disposition, DispositionCategory

# A lead bulk action touches at most this many leads; beyond it the admin narrows the filter first.
MAX_BULK_LEADS = 10_000
ABANDON_WINDOW = dt.timedelta(days=30)
ACTION_TEMPLATE = "admin/campaigns/lead/action_form.html"


def _person(request: HttpRequest) -> User:
    """The staff member an admin request acts for (the admin site lets nobody else in)."""
    return require_person(request.user)


def _exact_contacts(term: str) -> set[str]:
    """A searched number or address in every form a contact column may hold it."""
    values = {term.strip().lower()}
    with contextlib.suppress(InvalidContact):
        values.add(normalize_email(term) if "@" in term else normalize_phone(term))
    return values


class ReadOnlyAdmin(LargeTableAdmin):
    """History: nobody adds, edits or deletes a row, not even an admin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- the campaign's figures -------------------------------------------------------------------


def campaign_figures(campaign: Campaign, now: dt.datetime | None = None) -> dict[str, Any]:
    """The change page's figures, in two grouped queries: leads by status, and over the
    attempts of the last 30 days (attempt_campaign_idx), today's attempts (since midnight in the
    campaign's time zone) and answered calls, and the 30-day abandon rate: abandoned calls
    (answered, no agent in time) / answered calls, in percent, as max_abandon_percent reads it."""
    now = now or timezone.now()
    try:
        zone = zoneinfo.ZoneInfo(campaign.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    midnight = dt.datetime.combine(now.astimezone(zone).date(), dt.time(0), tzinfo=zone)
    by_status = dict(
        Lead.objects.filter(campaign=campaign)
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    answered = Q(answered_at__isnull=False) | Q(status=AttemptStatus.ABANDONED)
    since = min(midnight, now - ABANDON_WINDOW)
    totals = LeadAttempt.objects.filter(campaign=campaign, started_at__gte=since).aggregate(
        attempts_today=Count("id", filter=Q(started_at__gte=midnight)),
        answered_today=Count("id", filter=Q(started_at__gte=midnight) & answered),
        answered_30d=Count("id", filter=Q(started_at__gte=now - ABANDON_WINDOW) & answered),
        abandoned_30d=Count(
            "id", filter=Q(started_at__gte=now - ABANDON_WINDOW, status=AttemptStatus.ABANDONED)
        ),
    )
    rate = 100 * totals["abandoned_30d"] / totals["answered_30d"] if totals["answered_30d"] else 0.0
    return {
        "leads_by_status": {status: by_status.get(status.value, 0) for status in LeadStatus},
        "leads_total": sum(by_status.values()),
        **totals,
        "abandon_rate_30d": round(rate, 2),
    }


# --- campaigns --------------------------------------------------------------------------------


def _campaign_errors(error: Exception, fields: Any) -> FormErrors:
    """InvalidCampaign says "field: reason" (or "a/b: reason"): the reason goes on that field."""
    text = str(error)
    head, _, _ = text.partition(":")
    names = [name.strip() for name in head.split("/")]
    target = next((name for name in names if name in fields), None)
    return {target: [text]}


class CampaignAdminForm(ServiceErrorsForm):
    recording_url = forms.URLField(
        required=False, assume_scheme="https", help_text="Broadcast: a recorded message instead of speech"
    )

    class Meta:
        model = Campaign
        fields = sorted(EDITABLE_FIELDS)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        candidate = Campaign(
            **{f.attname: getattr(self.instance, f.attname) for f in Campaign._meta.concrete_fields}
        )
        for name, value in data.items():
            if name in EDITABLE_FIELDS:
                setattr(candidate, name, value)
        try:
            campaign_validate(candidate)
        except InvalidCampaign as exc:
            for field, texts in _campaign_errors(exc, self.fields).items():
                self.add_error(field, texts)
        return data


class RetryRuleInline(admin.TabularInline):
    model = RetryRule
    extra = 0
    fields = ("category", "disposition", "delay_minutes", "max_attempts")
    autocomplete_fields = ("disposition",)


class CampaignListInline(admin.TabularInline):
    model = CampaignList
    extra = 0
    fields = ("contact_list", "priority", "weight", "is_active")
    autocomplete_fields = ("contact_list",)
    verbose_name = "contact list"
    verbose_name_plural = "contact lists (higher priority first; weight shares leads within a priority)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[CampaignList]:
        return super().get_queryset(request).select_related("contact_list")


class CampaignStatusChangeInline(admin.TabularInline):
    """The latest 50 status changes; the rows are the audit of every start, pause and end."""

    model = CampaignStatusChange
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("at", "from_status", "to_status", "actor", "actor_name", "reason")
    readonly_fields = fields
    verbose_name_plural = "status changes (latest 50)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[CampaignStatusChange]:
        latest = (
            CampaignStatusChange.objects.filter(campaign_id=OuterRef("campaign_id"))
            .order_by("-at", "-id")
            .values("pk")[:50]
        )
        return super().get_queryset(request).filter(pk__in=latest).select_related("actor")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Campaign)
class CampaignAdmin(ThroughServicesAdmin):
    form = CampaignAdminForm
    list_display = ("name", "channel", "dial_mode", "status", "queue", "starts_at", "ends_at", "updated_at")
    list_filter = ("status", "channel", "dial_mode")
    list_select_related = ("queue",)
    search_fields = ("name",)
    autocomplete_fields = ("queue", "disposition_set")
    inlines = (CampaignListInline, RetryRuleInline, CampaignStatusChangeInline)
    actions = ("start_campaigns", "pause_campaigns", "resume_campaigns", "complete_campaigns")
    change_list_template = "admin/campaigns/campaign/change_list.html"
    readonly_fields = ("status", "figures", "disposition_set_link", "lead_actions", "created_by", "version")
    fieldsets = (
        (None, {"fields": ("name", "description", "status", "channel", "dial_mode", "queue")}),
        ("Wrap-up", {"fields": ("disposition_set", "disposition_set_link")}),
        ("Figures", {"fields": ("figures",)}),
        (
            "Calling window (each lead's local time, never outside 08:00-21:00)",
            {
                "fields": (
                    "window_start",
                    "window_end",
                    "window_days",
                    "time_zone",
                    "holiday_country",
                    "holiday_subdivision",
                    "starts_at",
                    "ends_at",
                )
            },
        ),
        (
            "Dialling",
            {
                "fields": (
                    "caller_id",
                    "lines_per_agent",
                    "max_abandon_percent",
                    "max_attempts_per_lead",
                    "max_attempts_per_number",
                )
            },
        ),
        (
            "Messages",
            {
                "fields": (
                    "message_subject",
                    "message_body",
                    "recording_url",
                    "broadcast_action",
                    "broadcast_lines",
                    "sends_per_minute",
                )
            },
        ),
        ("History", {"fields": ("lead_actions", "created_by", "version")}),
    )

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # A campaign with attempts is history; a draft is deleted from its own page.
        actions.pop("delete_selected", None)
        return actions

    def has_change_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        if obj is not None and obj.status == CampaignStatus.COMPLETED:
            return False  # its settings are history
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        if obj is not None and obj.status != CampaignStatus.DRAFT:
            return False  # its leads, attempts and figures stay
        return super().has_delete_permission(request, obj)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = dict(extra_context or {})
        if self.admin_site.is_registered(PeriodicTask):
            context["dialer_schedule_url"] = (
                reverse("admin:django_celery_beat_periodictask_changelist") + "?q=campaigns"
            )
        return super().changelist_view(request, extra_context=context)

    # -- the change page --

    @admin.display(description="figures")
    def figures(self, obj: Campaign) -> SafeString | str:
        if obj.pk is None:
            return "-"
        figures = campaign_figures(obj)
        by_status = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            ((status.label, figures["leads_by_status"][status]) for status in LeadStatus),
        )
        return format_html(
            "<table><tr><th>leads</th><th>{}</th></tr>{}</table>"
            "<table><tr><td>attempts today</td><td>{}</td></tr>"
            "<tr><td>answered today</td><td>{}</td></tr>"
            "<tr><td>answered, last 30 days</td><td>{}</td></tr>"
            "<tr><td>abandoned, last 30 days</td><td>{}</td></tr>"
            "<tr><td>abandon rate, last 30 days</td><td>{}%</td></tr></table>",
            figures["leads_total"],
            by_status,
            figures["attempts_today"],
            figures["answered_today"],
            figures["answered_30d"],
            figures["abandoned_30d"],
            f"{figures['abandon_rate_30d']:.2f}",
        )

    @admin.display(description="disposition set")
    def disposition_set_link(self, obj: Campaign) -> SafeString | str:
        if obj.disposition_set_id is None:
            return "None: agents choose from the queue's disposition set."
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:interactions_dispositionset_change", args=[obj.disposition_set_id]),
            obj.disposition_set,
        )

    @admin.display(description="lead bulk actions (latest 20)")
    def lead_actions(self, obj: Campaign) -> SafeString | str:
        if obj.pk is None:
            return "-"
        entries = (
            AuditEntry.objects.filter(object_type="campaigns.campaign", object_id=str(obj.pk))
            .filter(action__startswith="leads.")
            .select_related("actor")
            .order_by("-at", "-id")[:20]
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{e.at:%Y-%m-%d %H:%M}",
                    e.action,
                    e.actor or f"system ({e.data.get('system', '')})",
                    e.data.get("leads", 0),
                    json.dumps({k: v for k, v in e.data.items() if k not in {"lead_ids", "leads"}}),
                )
                for e in entries
            ),
        )
        if not rows:
            return "No bulk actions on its leads."
        return format_html(
            "<table><tr><th>when</th><th>action</th><th>by</th><th>leads</th><th>details</th></tr>{}</table>",
            rows,
        )

    # -- saving through the services --

    def save_model(self, request: HttpRequest, obj: Campaign, form: forms.ModelForm, change: bool) -> None:
        user = _person(request)
        try:
            if change:
                changed = {f: form.cleaned_data[f] for f in form.changed_data if f in EDITABLE_FIELDS}
                if not changed:
                    return
                campaign = campaign_update(actor=user, campaign_id=obj.pk, **changed)
            else:
                fields = {f: form.cleaned_data[f] for f in EDITABLE_FIELDS if f in form.cleaned_data}
                campaign = campaign_create(actor=user, **fields)
        except DomainError as exc:
            raise ServiceRejected(_campaign_errors(exc, form.fields)) from exc
        obj.pk = campaign.pk
        obj.refresh_from_db()

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        if formset.model is not CampaignList:
            return
        # The hopper orders leads by their own priority: a list's new priority reaches its leads.
        user = _person(request)
        for row in formset.forms:
            link = row.instance
            if link.pk is not None and ("priority" in row.changed_data or "contact_list" in row.changed_data):
                leads_set_priority(
                    actor=user, campaign=link.campaign, contact_list=link.contact_list, priority=link.priority
                )

    # -- status transitions --

    def _set_status(
        self, request: HttpRequest, queryset: QuerySet[Campaign], to_status: str, verb: str
    ) -> None:
        user = _person(request)
        done = 0
        for campaign in queryset.order_by("pk"):
            if campaign.status == to_status:
                self.message_user(
                    request,
                    f"Campaign {campaign.name} is {campaign.get_status_display().lower()} already.",
                    messages.WARNING,
                )
                continue
            try:
                campaign_set_status(
                    actor=user, campaign_id=campaign.pk, to_status=to_status, reason=f"{verb} in the admin"
                )
            except DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            done += 1
        if done:
            self.message_user(request, f"{done} campaign{'s' if done != 1 else ''} {verb}.", messages.SUCCESS)

    @admin.action(description="Start the selected campaigns", permissions=["change"])
    def start_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._set_status(request, queryset, CampaignStatus.ACTIVE, "started")

    @admin.action(
        description="Pause the selected campaigns (no new calls from the next tick)", permissions=["change"]
    )
    def pause_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._set_status(request, queryset, CampaignStatus.PAUSED, "paused")

    @admin.action(description="Resume the selected campaigns", permissions=["change"])
    def resume_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._set_status(request, queryset, CampaignStatus.ACTIVE, "resumed")

    @admin.action(
        description="Complete the selected campaigns (they never dial again)", permissions=["change"]
    )
    def complete_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._set_status(request, queryset, CampaignStatus.COMPLETED, "completed")


# --- contact lists ----------------------------------------------------------------------------


@admin.register(ContactList)
class ContactListAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "name",
        "source",
        "lead_count",
        "campaigns",
        "import_progress",
        "error_report",
        "created_at",
    )
    list_filter = ("source",)
    list_select_related = ("import_job",)
    search_fields = ("name",)
    fields = (
        "name",
        "source",
        "segment_filters",
        "appointment_field",
        "remind_hours_before",
        "lead_count",
        "import_progress",
        "error_report",
        "created_by",
        "created_at",
    )
    readonly_fields = ("lead_count", "import_progress", "error_report", "created_by", "created_at")
    change_list_template = "admin/campaigns/contactlist/change_list.html"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Uploading runs the customers import (mapping, error report): the campaigns' own page.
        context = dict(extra_context or {})
        with contextlib.suppress(NoReverseMatch):
            context["list_upload_url"] = reverse("campaigns:list-upload")
        return super().changelist_view(request, extra_context=context)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ContactList]:
        links = CampaignList.objects.select_related("campaign").order_by("-priority", "id")
        return super().get_queryset(request).prefetch_related(Prefetch("campaign_links", queryset=links))

    @admin.display(description="campaigns")
    def campaigns(self, obj: ContactList) -> str:
        return (
            ", ".join(
                f"{link.campaign.name} (priority {link.priority}, weight {link.weight})"
                for link in obj.campaign_links.all()
            )
            or "-"
        )

    @admin.display(description="import")
    def import_progress(self, obj: ContactList) -> str:
        job = obj.import_job
        if job is None:
            return "-"
        return (
            f"{job.get_status_display()}: {job.processed_rows:,} of {job.total_rows:,} rows, "
            f"{job.rejected_count:,} rejected"
        )

    @admin.display(description="rejected rows")
    def error_report(self, obj: ContactList) -> SafeString | str:
        if obj.import_job_id is None:
            return "-"
        return format_html(
            '<a href="{}">import page</a> · <a href="{}">error report (CSV)</a>',
            reverse("customers:import_detail", args=[obj.import_job_id]),
            reverse("customers:import_errors", args=[obj.import_job_id]),
        )

    def save_model(self, request: HttpRequest, obj: ContactList, form: forms.ModelForm, change: bool) -> None:
        if not change:
            obj.created_by = _person(request)
        super().save_model(request, obj, form, change)


# --- leads ------------------------------------------------------------------------------------


class AttemptsFilter(admin.SimpleListFilter):
    title = "attempts"
    parameter_name = "attempts"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("0", "None yet"), ("1-2", "1 or 2"), ("3+", "3 or more")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "0":
            return queryset.filter(attempts=0)
        if value == "1-2":
            return queryset.filter(attempts__gte=1, attempts__lte=2)
        if value == "3+":
            return queryset.filter(attempts__gte=3)
        return queryset


class DueFilter(admin.SimpleListFilter):
    """Diallable leads due now (the hopper may take them) or later (a retry or callback time)."""

    title = "due"
    parameter_name = "due"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("now", "Due now"), ("later", "Due later")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        diallable = queryset.filter(status__in=DIALLABLE_STATUSES)
        if self.value() == "now":
            return diallable.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        if self.value() == "later":
            return diallable.filter(next_attempt_at__gt=now)
        return queryset


class RecycleForm(forms.Form):
    campaign = forms.ModelChoiceField(queryset=Campaign.objects.order_by("name"))
    dispositions = forms.ModelMultipleChoiceField(
        queryset=Disposition.objects.order_by("label"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leads whose last disposition is one of these.",
    )
    categories = forms.MultipleChoiceField(
        choices=DispositionCategory.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Or whose last disposition falls in one of these categories.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("dispositions") and not data.get("categories"):
            raise forms.ValidationError("Choose at least one disposition or category.")
        return data


class MoveForm(forms.Form):
    to_campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.exclude(status=CampaignStatus.COMPLETED).order_by("name"),
        label="Move to campaign",
    )


class DncForm(forms.Form):
    reason = forms.CharField(max_length=200, help_text="Kept on the do-not-call entry and in the audit.")


@admin.register(Lead)
class LeadAdmin(LargeTableAdmin):
    """Leads are imported with their lists and change through the dialer and the bulk actions
    (services.leads): the admin shows a lead, it does not edit one."""

    list_display = (
        "contact",
        "campaign",
        "contact_list",
        "status",
        "attempts",
        "last_disposition",
        "next_attempt_at",
        "callback_owner",
    )
    list_filter = (
        "campaign",
        "contact_list",
        "status",
        "last_disposition",
        AttemptsFilter,
        DueFilter,
    )
    list_select_related = ("campaign", "contact_list", "last_disposition", "callback_owner")
    search_fields = ("contact",)
    search_help_text = "A whole phone number (any format) or email address."
    raw_id_fields = ("campaign", "contact_list", "customer", "last_disposition", "callback_owner")
    actions = ("reset_leads", "recycle_leads", "move_leads", "mark_leads_dnc")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Lead], search_term: str
    ) -> tuple[QuerySet[Lead], bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(contact__in=_exact_contacts(search_term)), False  # lead_contact_idx

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # attempts and the contact log point at leads
        return actions

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Lead | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Lead | None = None) -> bool:
        return False

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("campaigns.change_lead")

    # -- bulk actions --

    def _selected(self, request: HttpRequest, queryset: QuerySet[Lead]) -> QuerySet[Lead] | None:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: MAX_BULK_LEADS + 1])
        if len(ids) > MAX_BULK_LEADS:
            self.message_user(
                request,
                f"More than {MAX_BULK_LEADS:,} leads selected: narrow the list with filters first.",
                messages.ERROR,
            )
            return None
        return Lead.objects.filter(pk__in=ids)

    def _intermediate(
        self,
        request: HttpRequest,
        queryset: QuerySet[Lead],
        *,
        action: str,
        title: str,
        form: forms.Form,
        note: str,
    ) -> TemplateResponse:
        return TemplateResponse(
            request,
            ACTION_TEMPLATE,
            {
                **self.admin_site.each_context(request),
                "title": title,
                "opts": self.model._meta,
                "action": action,
                "form": form,
                "note": note,
                "queryset": queryset.select_related("campaign")[:50],
                "selected_ids": [
                    str(pk) for pk in queryset.values_list("pk", flat=True)[: MAX_BULK_LEADS + 1]
                ],
                "select_across": request.POST.get("select_across", "0"),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Reset the selected leads (no attempts, due now)", permissions=["manage"])
    def reset_leads(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        selected = self._selected(request, queryset)
        if selected is None:
            return
        try:
            count = leads_reset(actor=_person(request), leads=selected)
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(
            request,
            f"{count:,} leads reset; do-not-call, invalid and in-call leads were left as they are.",
            messages.SUCCESS,
        )

    @admin.action(description="Recycle leads by their last disposition", permissions=["manage"])
    def recycle_leads(self, request: HttpRequest, queryset: QuerySet[Lead]) -> TemplateResponse | None:
        campaigns = list(queryset.order_by().values_list("campaign_id", flat=True).distinct()[:2])
        dispositions = list(
            queryset.exclude(last_disposition=None)
            .order_by()
            .values_list("last_disposition_id", flat=True)
            .distinct()[:100]
        )
        initial = {"campaign": campaigns[0] if len(campaigns) == 1 else None, "dispositions": dispositions}
        form = RecycleForm(request.POST if "apply" in request.POST else None, initial=initial)
        if "apply" in request.POST and form.is_valid():
            campaign = form.cleaned_data["campaign"]
            try:
                count = leads_recycle(
                    actor=_person(request),
                    campaign=campaign,
                    disposition_codes=[d.code for d in form.cleaned_data["dispositions"]],
                    categories=form.cleaned_data["categories"],
                )
            except DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            self.message_user(request, f"{count:,} leads of {campaign.name} are due again.", messages.SUCCESS)
            return None
        return self._intermediate(
            request,
            queryset,
            action="recycle_leads",
            title="Recycle leads by disposition",
            form=form,
            note=(
                "Every lead of the chosen campaign whose last disposition matches becomes due again "
                "(not only the selected ones), unless it used up its attempts, has a callback, or is "
                "do-not-call or invalid. The selected leads' dispositions are ticked."
            ),
        )

    @admin.action(description="Move the selected leads to another campaign", permissions=["manage"])
    def move_leads(self, request: HttpRequest, queryset: QuerySet[Lead]) -> TemplateResponse | None:
        form = MoveForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            selected = self._selected(request, queryset)
            if selected is None:
                return None
            target = form.cleaned_data["to_campaign"]
            try:
                result = leads_move(actor=_person(request), leads=selected, to_campaign=target)
            except DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            self.message_user(
                request,
                f"{result.moved:,} leads moved to {target.name}; {result.skipped:,} skipped "
                "(already in that campaign, or in a call).",
                messages.SUCCESS,
            )
            return None
        return self._intermediate(
            request,
            queryset,
            action="move_leads",
            title="Move leads to another campaign",
            form=form,
            note="Leads keep their status and attempts; a contact the campaign has already is skipped.",
        )

    @admin.action(description="Mark the selected leads do-not-call", permissions=["manage"])
    def mark_leads_dnc(self, request: HttpRequest, queryset: QuerySet[Lead]) -> TemplateResponse | None:
        form = DncForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            selected = self._selected(request, queryset)
            if selected is None:
                return None
            try:
                count = leads_mark_dnc(
                    actor=_person(request), leads=selected, reason=form.cleaned_data["reason"]
                )
            except DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            self.message_user(
                request,
                f"{count:,} leads marked do-not-call; their numbers are on the internal do-not-call list.",
                messages.SUCCESS,
            )
            return None
        return self._intermediate(
            request,
            queryset,
            action="mark_leads_dnc",
            title="Mark leads do-not-call",
            form=form,
            note="Each number goes on the internal do-not-call list: no campaign calls or texts it again.",
        )


# --- history: attempts and the contact log ----------------------------------------------------


@admin.register(LeadAttempt)
class LeadAttemptAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at",
        "campaign",
        "contact",
        "channel",
        "status",
        "outcome",
        "disposition",
        "agent",
    )
    list_filter = ("campaign", "channel", "status", ("started_at", admin.DateFieldListFilter))
    list_select_related = ("campaign", "disposition", "agent__user")
    search_fields = ("contact",)
    search_help_text = "A whole phone number (any format) or email address."
    raw_id_fields = ("lead", "campaign", "interaction", "disposition", "agent")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[LeadAttempt], search_term: str
    ) -> tuple[QuerySet[LeadAttempt], bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(contact__in=_exact_contacts(search_term)), False  # attempt_contact_idx


class ChannelFilter(admin.SimpleListFilter):
    title = "channel"
    parameter_name = "channel"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(value), str(label)) for value, label in CampaignChannel.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(channel=self.value()) if self.value() else queryset


@admin.register(ContactLog)
class ContactLogAdmin(ReadOnlyAdmin):
    """The dial log: every decision of the compliance gate, allowed or refused."""

    list_display = ("at", "campaign", "contact", "channel", "allowed", "rule", "local_time", "detail")
    list_filter = (
        "campaign",
        "allowed",
        ("rule", admin.AllValuesFieldListFilter),
        ChannelFilter,
        ("at", admin.DateFieldListFilter),
    )
    list_select_related = ("campaign",)
    search_fields = ("contact",)
    search_help_text = "A whole phone number (any format) or email address."
    raw_id_fields = ("campaign", "lead")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ContactLog], search_term: str
    ) -> tuple[QuerySet[ContactLog], bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(contact__in=_exact_contacts(search_term)), False  # contact_log_contact_idx


# --- do-not-call ------------------------------------------------------------------------------


@admin.register(DncList)
class DncListAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "kind", "campaign", "entry_count", "loaded_at", "entries")
    list_filter = ("kind",)
    list_select_related = ("campaign",)
    search_fields = ("name",)
    autocomplete_fields = ("campaign",)
    fields = ("name", "kind", "campaign", "source", "entry_count", "loaded_at", "created_at", "entries")
    readonly_fields = ("entry_count", "loaded_at", "created_at", "entries")

    @admin.display(description="numbers")
    def entries(self, obj: DncList) -> SafeString | str:
        if obj.pk is None:
            return "-"
        return format_html(
            '<a href="{}?dnc_list__id__exact={}">{} numbers</a>',
            reverse("admin:campaigns_dncentry_changelist"),
            obj.pk,
            f"{obj.entry_count:,}",
        )

    def has_delete_permission(self, request: HttpRequest, obj: DncList | None = None) -> bool:
        if obj is not None and obj.kind == DncListKind.INTERNAL:
            return False  # the company's own list: do-not-call dispositions add to it
        return super().has_delete_permission(request, obj)


class DncEntryAddForm(ServiceErrorsForm):
    dnc_list = forms.ModelChoiceField(
        queryset=DncList.objects.filter(kind__in=[DncListKind.INTERNAL, DncListKind.CAMPAIGN]).order_by(
            "name"
        ),
        help_text="The internal list or a campaign's; national lists are loaded from the registry's file.",
    )

    class Meta:
        model = DncEntry
        fields = ("dnc_list", "number", "reason")

    def clean_number(self) -> str:
        try:
            return normalize_phone(self.cleaned_data["number"])
        except InvalidContact as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(DncEntry)
class DncEntryAdmin(ThroughServicesAdmin):
    """Numbers are added through dnc_add (normalized; the internal list marks the customer's
    contact point too); an entry never changes, and leaves its list only with the list."""

    form = DncEntryAddForm
    list_display = ("number", "dnc_list", "reason", "added_at")
    list_filter = ("dnc_list",)
    list_select_related = ("dnc_list",)
    search_fields = ("number",)
    search_help_text = "A whole phone number, in any format."

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[DncEntry], search_term: str
    ) -> tuple[QuerySet[DncEntry], bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(number__in=_exact_contacts(search_term)), False  # dnc_entry_unique

    def get_readonly_fields(self, request: HttpRequest, obj: DncEntry | None = None) -> tuple[str, ...]:
        return ("dnc_list", "number", "reason", "added_at") if obj is not None else ()

    def get_fields(self, request: HttpRequest, obj: DncEntry | None = None) -> tuple[str, ...]:
        return (
            ("dnc_list", "number", "reason", "added_at")
            if obj is not None
            else ("dnc_list", "number", "reason")
        )

    def has_change_permission(self, request: HttpRequest, obj: DncEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DncEntry | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: DncEntry, form: forms.ModelForm, change: bool) -> None:
        try:
            entry = dnc_add(
                actor=_person(request),
                number=form.cleaned_data["number"],
                reason=form.cleaned_data.get("reason") or "added in the admin",
                dnc_list=form.cleaned_data["dnc_list"],
            )
        except DomainError as exc:
            raise ServiceRejected({"number": [str(exc)]}) from exc
        obj.pk = entry.pk
        obj.refresh_from_db()
