"""The marketers' campaign pages: the list with today's figures, create/edit on one page in
sections, start/pause/resume/complete (POST, htmx), and the live dashboard whose figures
fragment the page re-fetches on every websocket event and on a slow interval. Thin: parse,
call a service or a selector, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import User
from apps.accounts.roles import Role, has_role
from apps.campaigns.exceptions import InvalidStatusChange
from apps.campaigns.forms import CAMPAIGN_FIELDS, LISTS_SHOWN, CampaignForm
from apps.campaigns.models import Campaign, CampaignList, CampaignStatus, RetryRule
from apps.campaigns.selectors.dashboard import (
    campaign_dashboard,
    campaigns_overview,
    contact_lists_available,
)
from apps.campaigns.services.audience import (
    ListLink,
    RetrySetting,
    campaign_lists_set,
    campaign_retry_rules_set,
)
from apps.campaigns.services.campaigns import campaign_create, campaign_set_status, campaign_update
from apps.core.exceptions import DomainError, NotAllowed
from apps.core.permissions import role_required
from apps.customers.services.imports import import_jobs_visible_to

READ_ROLES = (Role.MARKETER, Role.SUPERVISOR, Role.ADMIN)
MANAGE_ROLES = (Role.MARKETER, Role.ADMIN)

# The buttons of the status bar: action -> (the status it asks for, the label).
ACTIONS: dict[str, tuple[str, str]] = {
    "start": (CampaignStatus.ACTIVE, "Start"),
    "pause": (CampaignStatus.PAUSED, "Pause"),
    "resume": (CampaignStatus.ACTIVE, "Resume"),
    "complete": (CampaignStatus.COMPLETED, "Complete"),
}
# Which buttons each status shows.
ACTIONS_BY_STATUS: dict[str, tuple[str, ...]] = {
    CampaignStatus.DRAFT: ("start", "complete"),
    CampaignStatus.ACTIVE: ("pause", "complete"),
    CampaignStatus.PAUSED: ("resume", "complete"),
    CampaignStatus.COMPLETED: (),
}
# The dashboard's fallback refresh when no websocket event arrives.
FALLBACK_REFRESH_SECONDS = 30


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # role_required admitted a signed-in user
    return request.user


def _may_manage(request: HttpRequest) -> bool:
    return has_role(request.user, *MANAGE_ROLES)


@role_required(*READ_ROLES)
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    """Every campaign with today's figures, and the recent list imports of this user."""
    return render(
        request,
        "campaigns/list.html",
        {
            "rows": campaigns_overview(),
            "may_manage": _may_manage(request),
            "import_jobs": import_jobs_visible_to(request.user)[:10],
        },
    )


def _form_context(form: CampaignForm, campaign: Campaign | None) -> dict[str, Any]:
    return {"form": form, "campaign": campaign}


def _save(request: HttpRequest, form: CampaignForm, campaign: Campaign | None) -> Campaign | None:
    """The campaign, its lists and its retry rules in one transaction: a refusal of any of them
    saves nothing and names the field on the form."""
    actor = _user(request)
    try:
        with transaction.atomic():
            fields = form.campaign_fields()
            if campaign is None:
                saved = campaign_create(actor=actor, **fields)
            else:
                saved = campaign_update(actor=actor, campaign_id=campaign.pk, **fields)
            campaign_lists_set(
                actor=actor,
                campaign_id=saved.pk,
                links=[ListLink(c.contact_list_id, c.priority, c.weight) for c in form.list_choices()],
            )
            campaign_retry_rules_set(
                actor=actor,
                campaign_id=saved.pk,
                rules=[
                    RetrySetting(r.category, r.delay_minutes, r.max_attempts) for r in form.retry_choices()
                ],
            )
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except DomainError as exc:  # InvalidCampaign, InvalidStatusChange, the lists' refusals
        form.add_service_error(str(exc))
        return None
    return saved


@role_required(*MANAGE_ROLES)
@require_http_methods(["GET", "POST"])
def campaign_create_page(request: HttpRequest) -> HttpResponse:
    lists = contact_lists_available()[:LISTS_SHOWN]
    form = CampaignForm(request.POST or None, contact_lists=lists)
    if request.method == "POST" and form.is_valid():
        saved = _save(request, form, None)
        if saved is not None:
            messages.success(request, f"Campaign {saved.name} saved as a draft. Start it when it is ready.")
            return redirect("campaigns:dashboard", pk=saved.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "campaigns/form.html", _form_context(form, None), status=status)


@role_required(*MANAGE_ROLES)
@require_http_methods(["GET", "POST"])
def campaign_edit_page(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    if campaign.status == CampaignStatus.COMPLETED:
        messages.error(request, f"Campaign {campaign.name} is completed: its settings are history.")
        return redirect("campaigns:dashboard", pk=campaign.pk)
    links = {
        link.contact_list_id: (link.priority, link.weight)
        for link in CampaignList.objects.filter(campaign=campaign, is_active=True)
    }
    rules = {
        rule.category: (rule.delay_minutes, rule.max_attempts)
        for rule in RetryRule.objects.filter(campaign=campaign, disposition__isnull=True)
    }
    lists = list(contact_lists_available()[:LISTS_SHOWN])
    shown = {contact_list.pk for contact_list in lists}
    # An attached list is always shown, however old.
    lists += list(contact_lists_available().filter(pk__in=set(links) - shown))
    initial = {name: getattr(campaign, name) for name in CAMPAIGN_FIELDS}
    initial["queue"] = campaign.queue_id
    initial["disposition_set"] = campaign.disposition_set_id
    form = CampaignForm(
        request.POST or None, initial=initial, contact_lists=lists, links=links, retry_rules=rules
    )
    if request.method == "POST" and form.is_valid():
        saved = _save(request, form, campaign)
        if saved is not None:
            messages.success(request, f"Campaign {saved.name} saved.")
            return redirect("campaigns:dashboard", pk=saved.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "campaigns/form.html", _form_context(form, campaign), status=status)


def _status_context(request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
    buttons = [(action, ACTIONS[action][1]) for action in ACTIONS_BY_STATUS[campaign.status]]
    return {"campaign": campaign, "buttons": buttons if _may_manage(request) else []}


@role_required(*READ_ROLES)
@require_GET
def campaign_dashboard_page(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("queue", "disposition_set"), pk=pk)
    return render(
        request,
        "campaigns/dashboard.html",
        {
            **_status_context(request, campaign),
            "dashboard": campaign_dashboard(campaign=campaign),
            "refresh_seconds": FALLBACK_REFRESH_SECONDS,
            "may_manage": _may_manage(request),
        },
    )


@role_required(*READ_ROLES)
@require_GET
def campaign_figures(request: HttpRequest, pk: int) -> HttpResponse:
    """The dashboard's figures fragment (htmx re-fetches it on an event and every 30 s)."""
    campaign = get_object_or_404(Campaign.objects.select_related("queue"), pk=pk)
    return render(request, "campaigns/_figures.html", {"dashboard": campaign_dashboard(campaign=campaign)})


@role_required(*READ_ROLES)
@require_GET
def campaign_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The status bar fragment (re-fetched on a "campaign" event: another marketer paused it)."""
    campaign = get_object_or_404(Campaign, pk=pk)
    return render(request, "campaigns/_status.html", _status_context(request, campaign))


@role_required(*MANAGE_ROLES)
@require_POST
def campaign_set_status_page(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Start, pause, resume or complete. A refusal is the reason in words: for htmx a 409 whose
    body the page shows (static/js/live.js), otherwise a message on the dashboard."""
    if action not in ACTIONS:
        raise Http404("No such campaign action.")
    campaign = get_object_or_404(Campaign, pk=pk)
    htmx = request.headers.get("HX-Request") == "true"
    try:
        campaign = campaign_set_status(
            actor=_user(request),
            campaign_id=campaign.pk,
            to_status=ACTIONS[action][0],
            reason=f"{action} on the page",
        )
    except InvalidStatusChange as exc:
        if htmx:
            return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")
        messages.error(request, str(exc))
        return redirect("campaigns:dashboard", pk=campaign.pk)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    if htmx:
        return render(request, "campaigns/_status.html", _status_context(request, campaign))
    messages.success(request, f"Campaign {campaign.name} is {campaign.get_status_display().lower()}.")
    return redirect("campaigns:dashboard", pk=campaign.pk)
