"""Agentless broadcasts: what a broadcast call says and what the keys pressed after it do.

The dialer places a broadcast's calls like a predictive campaign's, with no agent
(apps.campaigns.dialer.broadcast). When the call is answered, the voice connector asks what to
play (`broadcast_script`: the campaign's recording, or its text with the merge fields filled for
this lead, and which keys mean what), plays it, gathers the keys, and reports them
(`broadcast_keys`):

- press_one: "1" asks for an agent: the call is reported answered and waits in the campaign's
  queue for the ACD like any answered outbound call (the 2-second abandon rule applies);
- appointment: "1" confirms and "2" cancels the lead's appointment (Lead.appointment_answer);
- message_only, or any other key, or none: the message was heard.

A call that does not go to an agent ends with the "message" outcome (its attempt and lead are
done: the message reached a person). An answering machine, a fax or no answer is reported by the
connector through interaction_call_progress as for any call. Idempotent: keys reported twice, or
after the call ended, change nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from apps.campaigns import events
from apps.campaigns.merge_fields import render_message
from apps.campaigns.models import AttemptStatus, BroadcastAction, DialMode, Lead, LeadAttempt
from apps.core.actors import Actor, SystemActor, require_actor
from apps.core.exceptions import DomainError, NotAllowed
from apps.interactions.models import PLACING_STATUSES, CallOutcome, Interaction

# What an appointment answer key writes on the lead.
APPOINTMENT_KEYS = {"1": "confirmed", "2": "cancelled"}
KEYS_MAX = 32


class NotABroadcast(DomainError):
    """The call is no broadcast's, or no longer waits for its keys."""


@dataclass(frozen=True)
class BroadcastScript:
    interaction_id: int
    text: str
    """The campaign's message with the merge fields filled for this lead (spoken when there is no
    recording, and the text of the recording otherwise)."""
    recording_url: str
    action: str
    prompts: dict[str, str]
    """Key -> what pressing it does, as the connector says it after the message."""


def _attempt_of(interaction_id: int) -> LeadAttempt:
    attempt = (
        LeadAttempt.objects.select_related("campaign", "lead__customer__organization")
        .filter(interaction_id=interaction_id)
        .first()
    )
    if attempt is None or attempt.campaign.dial_mode != DialMode.BROADCAST:
        raise NotABroadcast(f"Interaction #{interaction_id} is not a broadcast call.")
    return attempt


def broadcast_script(*, interaction_id: int) -> BroadcastScript:
    """What the connector plays on this broadcast call once it is answered."""
    attempt = _attempt_of(interaction_id)
    campaign = attempt.campaign
    text = render_message(
        campaign.message_body, customer=attempt.lead.customer, lead=attempt.lead, campaign=campaign
    )
    prompts: dict[str, str] = {}
    if campaign.broadcast_action == BroadcastAction.PRESS_ONE:
        prompts = {"1": "Press 1 to speak to someone now."}
    elif campaign.broadcast_action == BroadcastAction.APPOINTMENT:
        prompts = {"1": "Press 1 to confirm your appointment.", "2": "Press 2 to cancel it."}
    return BroadcastScript(
        interaction_id=interaction_id,
        text=text,
        recording_url=campaign.recording_url,
        action=campaign.broadcast_action,
        prompts=prompts,
    )


def broadcast_keys(*, actor: Actor, interaction_id: int, keys: str, now: dt.datetime | None = None) -> str:
    """The keys pressed after the broadcast's message (empty: none); returns what they did:
    "agent" (the call waits for an agent), "confirmed"/"cancelled" (the appointment's answer),
    "heard" (the message reached a person), or "ignored" (the call had already moved on).
    Only the voice connector (a system actor) reports it."""
    from apps.interactions.services import interaction_call_progress

    require_actor(actor)
    if not isinstance(actor, SystemActor):
        raise NotAllowed("Only the voice connector reports the keys of a broadcast call.")
    keys = "".join(ch for ch in str(keys) if ch in "0123456789*#")[:KEYS_MAX]
    attempt = _attempt_of(interaction_id)
    status = Interaction.objects.values_list("status", flat=True).get(pk=interaction_id)
    if status not in PLACING_STATUSES or attempt.ended_at is not None:
        return "ignored"
    campaign = attempt.campaign
    now = now or timezone.now()
    first = keys[:1]
    if campaign.broadcast_action == BroadcastAction.PRESS_ONE and first == "1":
        interaction_call_progress(
            actor=actor, interaction_id=interaction_id, outcome=CallOutcome.ANSWERED, detail="pressed 1"
        )
        return "agent"
    result = "heard"
    with transaction.atomic():
        if campaign.broadcast_action == BroadcastAction.APPOINTMENT and first in APPOINTMENT_KEYS:
            result = APPOINTMENT_KEYS[first]
            Lead.objects.filter(pk=attempt.lead_id).update(appointment_answer=result, updated_at=now)
        LeadAttempt.objects.filter(pk=attempt.pk, answered_at__isnull=True).update(answered_at=now)
        LeadAttempt.objects.filter(pk=attempt.pk, ended_at__isnull=True).update(
            status=AttemptStatus.ANSWERED, outcome=CallOutcome.MESSAGE
        )
        interaction_call_progress(
            actor=actor,
            interaction_id=interaction_id,
            outcome=CallOutcome.MESSAGE,
            detail=f"keys {keys}" if keys else "no key pressed",
        )
        events.campaign_activity(campaign.pk)
    return result
