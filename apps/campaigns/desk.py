"""What the campaigns add to the agent desk: the lead on the screen pop of a campaign call, the
agent's own callbacks beside their work, and the compliance gate asked again at the moment an
agent dials a previewed lead.

All plug into the interactions app's registries (desk_sections, services.register_dial_check)
from CampaignsConfig.ready(); the interactions app never imports this module.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.campaigns.models import AttemptStatus, Lead, LeadAttempt, LeadStatus
from apps.campaigns.services.gate import contact_decide
from apps.interactions.desk_sections import DeskSection
from apps.interactions.exceptions import ContactRefused
from apps.interactions.models import Direction, Interaction

# Row fields shown on the screen pop, at most: a list's extra columns can be many.
MAX_LEAD_FIELDS = 20
# The agent's callbacks shown beside their work, soonest first.
MAX_CALLBACKS = 15


def lead_section(interaction: Interaction, viewer: Any) -> DeskSection | None:
    """The campaign, the lead's attempts and last outcome, its callback and the row's own fields,
    for an outbound interaction the campaigns placed or previewed. One query."""
    if interaction.direction != Direction.OUTBOUND:
        return None
    attempt = (
        LeadAttempt.objects.select_related("campaign", "lead__last_disposition", "lead__contact_list")
        .filter(interaction_id=interaction.pk)
        .first()
    )
    if attempt is None:
        return None
    lead = attempt.lead
    rows = [
        ("Campaign", attempt.campaign.name),
        ("Attempts", f"{lead.attempts} of {attempt.campaign.max_attempts_per_lead}"),
    ]
    if lead.contact_list is not None:
        rows.append(("List", lead.contact_list.name))
    if lead.last_disposition is not None:
        rows.append(("Last outcome", lead.last_disposition.label))
    if lead.appointment_at is not None:
        rows.append(("Appointment", timezone.localtime(lead.appointment_at).strftime("%Y-%m-%d %H:%M")))
    fields = lead.fields if isinstance(lead.fields, dict) else {}
    for key, value in list(fields.items())[:MAX_LEAD_FIELDS]:
        rows.append((str(key), "" if value is None else str(value)))
    note = ""
    if lead.status == LeadStatus.CALLBACK and lead.callback_at is not None:
        note = f"Callback asked for {timezone.localtime(lead.callback_at):%Y-%m-%d %H:%M}."
    return DeskSection(title="Lead", rows=rows, note=note)


def _local(moment: dt.datetime, first: str, zones: Any) -> str:
    """The moment in the customer's zone (the one the agent typed the callback in on the desk),
    else the lead's first zone, else the page's."""
    for name in [first, *(zones if isinstance(zones, list) else [])]:
        if not name:
            continue
        try:
            zone = ZoneInfo(str(name))
        except (ZoneInfoNotFoundError, ValueError):
            continue
        return f"{moment.astimezone(zone):%a %d %b %H:%M} {name}"
    return f"{timezone.localtime(moment):%a %d %b %H:%M}"


def callbacks_panel(viewer: Any) -> DeskSection | None:
    """The callbacks the agent kept for themselves, soonest first, each in the lead's local time:
    they come back to this agent first when due. None for an agent with none. One query."""
    if not getattr(viewer, "is_authenticated", False):
        return None
    leads = list(
        Lead.objects.select_related("customer", "campaign")
        .filter(callback_owner_id=viewer.pk, status=LeadStatus.CALLBACK, callback_at__isnull=False)
        .order_by("callback_at", "id")[: MAX_CALLBACKS + 1]
    )
    if not leads:
        return None
    now = timezone.now()
    rows = []
    for lead in leads[:MAX_CALLBACKS]:
        assert lead.callback_at is not None
        who = lead.customer.display_name if lead.customer is not None else lead.contact
        when = _local(lead.callback_at, lead.customer.time_zone if lead.customer else "", lead.time_zones)
        due = " (due now)" if lead.callback_at <= now else ""
        rows.append((f"{when}{due}", f"{who} · {lead.contact} · {lead.campaign.name}"))
    note = "Each comes back to you first when it is due."
    if len(leads) > MAX_CALLBACKS:
        note += f" The next {MAX_CALLBACKS} are shown."
    return DeskSection(title="My callbacks", rows=rows, note=note)


def preview_dial_check(interaction: Interaction) -> None:
    """An agent dials a previewed lead: the compliance gate decides again now (the preview may
    have waited; the window may have closed, the number gone on a list). A refusal is logged by
    the gate and raised as ContactRefused (the call is not placed; the agent skips it). An
    allowed dial becomes the lead's attempt: dialing, counted once."""
    attempt = (
        LeadAttempt.objects.select_related("campaign", "lead__customer")
        .filter(interaction_id=interaction.pk)
        .first()
    )
    if attempt is None or attempt.status != AttemptStatus.QUEUED:
        return  # not a campaign's preview, or its dial is recorded already (a retry)
    decision = contact_decide(campaign=attempt.campaign, lead=attempt.lead, channel="voice")
    if not decision.allowed:
        raise ContactRefused(f"Not dialled: {decision.detail}")
    now = timezone.now()
    with transaction.atomic():
        counted = LeadAttempt.objects.filter(pk=attempt.pk, status=AttemptStatus.QUEUED).update(
            status=AttemptStatus.DIALING, started_at=now
        )
        if counted:
            Lead.objects.filter(pk=attempt.lead_id).update(
                attempts=F("attempts") + 1, last_attempt_at=now, updated_at=now
            )
