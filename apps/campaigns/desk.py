"""What the campaigns add to the agent desk: the lead on the screen pop of a campaign call, and
the compliance gate asked again at the moment an agent dials a previewed lead.

Both plug into the interactions app's registries (desk_sections, services.register_dial_check)
from CampaignsConfig.ready(); the interactions app never imports this module.
"""

from __future__ import annotations

from typing import Any

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
