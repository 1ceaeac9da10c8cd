"""What becomes of a lead once its call is placed: the interactions app announces the call's life
(signals sent after commit, through send_robust) and these receivers move the lead's attempt
and, through attempt_finish, the lead itself (retry, callback, done, do-not-call, abandoned).

- interaction_accepted: an agent took the call; the attempt is answered and connected (when,
  by whom).
- interaction_wrapped_up: the call is closed (the agent's wrap-up, the wrap-up timer, or an
  unanswered outcome: busy, no answer, machine, failed); attempt_finish applies the
  interaction's disposition and the callback the agent set (its time, and its owner when the
  agent kept it personal: Interaction.callback_personal).
- interaction_abandoned: the answered call left before an agent took it (the customer hung up,
  or the 2-second rule below); attempt_finish keeps the lead quiet for 72 hours.

When the call was answered (LeadAttempt.answered_at) comes from the InteractionEvent row
"call_answered" that interaction_call_progress writes. There is no signal for the answer of a
call without a reserved agent (ringing -> queued is no status change a signal stands for), and
a post_save receiver on InteractionEvent would run inside the connector's transaction on every
event row of the contact center (routing's hot path) for the sake of a few campaign calls.
Every answered call ends in exactly one of accepted, abandoned or wrapped up, so each receiver
fills answered_at from that row when it is still empty: by the time anything counts an attempt
answered or abandoned (the gate's 30-day abandon rate), it is there. An answer that turned out
to be an answering machine (call_outcome "machine") is not a live answer and leaves it empty.

Receivers open their own transaction, find the attempt by interaction_id (an interaction of no
campaign costs one indexed read) and are idempotent: a signal received twice changes nothing.

The 2-second rule: an answered call with no reserved agent (predictive, power) that no agent
has taken ABANDON_AFTER after the answer is abandoned by the dialer: it hears a recorded message
naming the campaign and the number to call to stop the calls, and is hung up
(calls_abandon_unconnected, on beat every second).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from apps.campaigns import events
from apps.campaigns.models import AttemptStatus, Lead, LeadAttempt, LeadStatus
from apps.campaigns.services.attempts import attempt_finish
from apps.core.actors import Actor, SystemActor, require_actor
from apps.core.exceptions import NotAllowed
from apps.interactions import acd, voice
from apps.interactions.exceptions import InvalidTransition, VoiceGatewayError
from apps.interactions.models import (
    CallOutcome,
    Channel,
    Direction,
    Interaction,
    InteractionEvent,
    InteractionStatus,
)
from apps.interactions.services.lifecycle import interaction_abandon
from apps.interactions.services.policy import is_supervision

logger = logging.getLogger(__name__)

OUTCOMES = SystemActor("campaign outcomes")
"""Who records an outcome when the signal names nobody."""
ABANDON_TIMER = SystemActor("dialer abandon timer")
"""The beat task that applies the 2-second rule."""

# An answered call no agent took within this is abandoned (the FTC's safe harbor: a live agent
# within two seconds of the greeting, else a recorded message).
ABANDON_AFTER = dt.timedelta(seconds=2)
# Answered calls abandoned per run at most: the next second's run takes the rest.
ABANDON_BATCH = 200
ANSWERED_EVENT = f"call_{CallOutcome.ANSWERED}"


def abandon_message(*, campaign_name: str, caller_id: str) -> str:
    """What a call the dialer abandons hears: who called and how to stop the calls."""
    stop = f" To stop our calls, call {caller_id}." if caller_id else ""
    return (
        f"This is {campaign_name}. We are sorry, none of our agents is free to speak with you now. "
        f"We will not call you again for three days.{stop}"
    )


def _answered_at(interaction: Interaction) -> dt.datetime | None:
    """When the call was answered by a live person: its "call_answered" event row, only while
    its outcome is still "answered" (a machine found after the answer is no live answer)."""
    if interaction.call_outcome != CallOutcome.ANSWERED:
        return None
    at: dt.datetime | None = (
        InteractionEvent.objects.filter(interaction_id=interaction.pk, kind=ANSWERED_EVENT)
        .order_by("at", "id")
        .values_list("at", flat=True)
        .first()
    )
    return at or interaction.queued_at or interaction.accepted_at


def _fill_times(attempt_id: int, interaction: Interaction, agent_id: int | None = None) -> None:
    """Fill the attempt's answered_at, connected_at and agent where still empty (one statement
    each at most; nothing when they are set: a second signal writes nothing)."""
    answered_at = _answered_at(interaction)
    if answered_at is not None:
        LeadAttempt.objects.filter(pk=attempt_id, answered_at__isnull=True).update(answered_at=answered_at)
    if interaction.accepted_at is not None:
        LeadAttempt.objects.filter(pk=attempt_id, connected_at__isnull=True).update(
            connected_at=interaction.accepted_at
        )
    agent = agent_id if agent_id is not None else interaction.agent_id
    if interaction.accepted_at is not None and agent is not None:
        LeadAttempt.objects.filter(pk=attempt_id, agent__isnull=True).update(agent_id=agent)


def _attempt_of(interaction_id: int) -> tuple[int, dt.datetime | None] | None:
    """(attempt id, ended_at) of the campaign attempt that placed this call, or None."""
    row = LeadAttempt.objects.filter(interaction_id=interaction_id).values_list("pk", "ended_at").first()
    return (int(row[0]), row[1]) if row is not None else None


def attempt_connect(*, actor: Actor, interaction_id: int, agent_id: int | None = None) -> LeadAttempt | None:
    """An agent took the campaign call `interaction_id`: its attempt is answered (when the call
    was), connected at the interaction's first acceptance, and names the agent who took it
    (the first one: a later transfer keeps it). None when the call is no campaign's.
    Idempotent; an attempt already finished keeps its status. Locks: the attempt."""
    require_actor(actor)
    with transaction.atomic():
        attempt = LeadAttempt.objects.select_for_update().filter(interaction_id=interaction_id).first()
        if attempt is None:
            return None
        if attempt.status == AttemptStatus.QUEUED:
            return attempt  # an accepted preview: nobody is called until its agent dials
        interaction = Interaction.objects.get(pk=interaction_id)
        before = (attempt.status, attempt.answered_at, attempt.connected_at, attempt.agent_id)
        answered_at = _answered_at(interaction)
        if attempt.answered_at is None and answered_at is not None:
            attempt.answered_at = answered_at
        if attempt.connected_at is None:
            attempt.connected_at = interaction.accepted_at or timezone.now()
        if attempt.agent_id is None:
            attempt.agent_id = agent_id if agent_id is not None else interaction.agent_id
        if attempt.ended_at is None:
            attempt.status = AttemptStatus.ANSWERED
        if (attempt.status, attempt.answered_at, attempt.connected_at, attempt.agent_id) != before:
            attempt.save(update_fields=["status", "answered_at", "connected_at", "agent"])
            events.campaign_activity(attempt.campaign_id)
    return attempt


def attempt_wrap_up(*, actor: Actor, interaction_id: int) -> LeadAttempt | None:
    """The campaign call `interaction_id` is closed: its attempt ends with the call's outcome
    (failed for a failed call, else ended) and the interaction's disposition, and the lead moves
    as attempt_finish says. The callback the agent set goes with it: Interaction.callback_at,
    owned by the agent who wrapped up when they kept it personal (callback_personal), else by
    any agent of the campaign. None when the call is no campaign's. Idempotent (an attempt
    already finished is left as it is). Locks: the lead, then the attempt (attempt_finish)."""
    require_actor(actor)
    found = _attempt_of(interaction_id)
    if found is None or found[1] is not None:
        return LeadAttempt.objects.get(pk=found[0]) if found is not None else None
    attempt_id = found[0]
    interaction = Interaction.objects.select_related("disposition", "agent__user").get(pk=interaction_id)
    # Only a preview that was never dialled (no call, so no outcome) can have been skipped or
    # withdrawn: a placed call's wrap-up reads no event.
    not_dialled = None
    if interaction.dialed_at is None and not interaction.call_outcome:
        not_dialled = (
            interaction.events.filter(kind__in=("preview_skipped", "preview_withdrawn"))
            .values_list("kind", "data")
            .first()
        )
    if not_dialled is not None:
        kind, data = not_dialled
        closed_at = interaction.closed_at or timezone.now()
        with transaction.atomic():
            # The agent skipped the preview, or its paused campaign took it back: no contact.
            attempt = attempt_finish(
                actor=actor,
                attempt_id=attempt_id,
                status=AttemptStatus.SKIPPED,
                disposition=interaction.disposition,
                skip_reason=str((data or {}).get("reason", "")),
                now=closed_at,
            )
            if kind == "preview_withdrawn":
                # Taken back unseen: the lead is due as soon as its campaign dials again.
                Lead.objects.filter(pk=attempt.lead_id, status=LeadStatus.RETRY).update(
                    next_attempt_at=closed_at
                )
        return attempt
    owner = None
    if interaction.callback_personal and interaction.agent is not None:
        owner = interaction.agent.user
    with transaction.atomic():
        attempt = attempt_finish(
            actor=actor,
            attempt_id=attempt_id,
            status=AttemptStatus.FAILED
            if interaction.call_outcome == CallOutcome.FAILED
            else AttemptStatus.ENDED,
            outcome=interaction.call_outcome,
            disposition=interaction.disposition,
            callback_at=interaction.callback_at,
            callback_owner=owner,
            now=interaction.closed_at or timezone.now(),
        )
        _fill_times(attempt_id, interaction)
    attempt.refresh_from_db()
    return attempt


def attempt_abandon(*, actor: Actor, interaction_id: int) -> LeadAttempt | None:
    """The answered campaign call `interaction_id` left before an agent took it (the customer
    hung up while waiting, or the 2-second rule): the attempt is abandoned and the lead is not
    dialled again within 72 hours (attempt_finish's ABANDON_QUIET). None when the call is no
    campaign's. Idempotent. Locks: the lead, then the attempt (attempt_finish)."""
    require_actor(actor)
    found = _attempt_of(interaction_id)
    if found is None or found[1] is not None:
        return LeadAttempt.objects.get(pk=found[0]) if found is not None else None
    attempt_id = found[0]
    interaction = Interaction.objects.get(pk=interaction_id)
    with transaction.atomic():
        attempt = attempt_finish(
            actor=actor,
            attempt_id=attempt_id,
            status=AttemptStatus.ABANDONED,
            outcome=interaction.call_outcome,
            now=interaction.abandoned_at or timezone.now(),
        )
        _fill_times(attempt_id, interaction)
    attempt.refresh_from_db()
    return attempt


def _play_abandon_message(interaction: Interaction, now: dt.datetime) -> None:
    """Ask the voice gateway to play the abandon message, then hang up. A gateway with a
    `play_message(interaction, text=...)` command plays it; the built-in simulator records the
    command as its event row, like every command it is given. Inside the caller's transaction,
    with the interaction locked (a VoiceGatewayError rolls the abandon back: retried next run)."""
    name, caller_id = (
        LeadAttempt.objects.filter(interaction_id=interaction.pk)
        .values_list("campaign__name", "campaign__caller_id")
        .get()
    )
    text = abandon_message(campaign_name=name, caller_id=caller_id or interaction.caller_id)
    gateway = voice.gateway()
    play = getattr(gateway, "play_message", None)
    if callable(play):
        play(interaction, text=text)
    elif isinstance(gateway, voice.SimulatorGateway):
        acd.event_add(
            interaction,
            kind="voice_gateway",
            from_status=interaction.status,
            at=now,
            data={"gateway": gateway.name, "command": "play_message", "text": text},
        )
    else:
        logger.warning(
            "voice gateway %s cannot play a message: abandoned call #%s is hung up without it",
            gateway.name,
            interaction.pk,
        )
    gateway.hang_up(interaction)


def unconnected_calls(*, now: dt.datetime) -> models.QuerySet[Interaction]:
    """Answered campaign calls still waiting for an agent (queued, or offered and not accepted)
    ABANDON_AFTER after their answer (queued_at: set at the answer and kept), oldest first.
    Reads the waiting and offered partial indexes."""
    return (
        Interaction.objects.filter(Q(status=InteractionStatus.QUEUED) | Q(status=InteractionStatus.OFFERED))
        .filter(
            direction=Direction.OUTBOUND,
            channel=Channel.VOICE,
            call_outcome=CallOutcome.ANSWERED,
            queued_at__lte=now - ABANDON_AFTER,
            lead_attempt__isnull=False,
        )
        .order_by("queued_at", "pk")
    )


def calls_abandon_unconnected(*, actor: Actor, now: dt.datetime | None = None) -> list[int]:
    """The 2-second rule (beat, every second): every answered campaign call that no agent has
    taken ABANDON_AFTER after its answer is abandoned through interaction_abandon (its offer, if
    any, withdrawn and the agent's slot freed), hears the abandon message and is hung up; the
    interaction_abandoned signal then keeps its lead quiet for 72 hours. A call an agent accepts
    meanwhile is left alone (the abandon finds it active: InvalidTransition); one the gateway
    refuses is rolled back and tried again on the next run. Returns the abandoned interactions'
    ids. The system or a supervisor only. Locks: each call's agent, then the call, one call per
    transaction."""
    require_actor(actor)
    if not is_supervision(actor):
        raise NotAllowed("Only the dialer or a supervisor abandons a waiting call.")
    now = now or timezone.now()
    due = list(unconnected_calls(now=now).values_list("pk", flat=True)[:ABANDON_BATCH])
    abandoned: list[int] = []
    for pk in due:
        try:
            with transaction.atomic():
                interaction = interaction_abandon(actor=actor, interaction_id=pk)
                _play_abandon_message(interaction, now)
        except InvalidTransition:
            continue  # an agent took it (or the customer hung up) since the read
        except VoiceGatewayError as exc:
            logger.warning("abandoning call #%s: the voice gateway refused (%s); retried", pk, exc)
            continue
        abandoned.append(pk)
    return abandoned


# Receivers: after commit, their own transaction each; a failure is logged by send_robust.


def _actor(kwargs: dict[str, Any]) -> Actor:
    actor = kwargs.get("actor")
    return actor if actor is not None else OUTCOMES


def on_interaction_accepted(sender: Any, *, interaction_id: int, **kwargs: Any) -> None:
    attempt_connect(actor=_actor(kwargs), interaction_id=interaction_id, agent_id=kwargs.get("agent_id"))


def on_interaction_wrapped_up(sender: Any, *, interaction_id: int, **kwargs: Any) -> None:
    attempt_wrap_up(actor=_actor(kwargs), interaction_id=interaction_id)


def on_interaction_abandoned(sender: Any, *, interaction_id: int, **kwargs: Any) -> None:
    attempt_abandon(actor=_actor(kwargs), interaction_id=interaction_id)


def connect() -> None:
    """Connect the outcome receivers (from CampaignsConfig.ready(); idempotent: dispatch_uid)."""
    from apps.interactions.signals import interaction_abandoned, interaction_accepted, interaction_wrapped_up

    interaction_accepted.connect(
        on_interaction_accepted, sender=Interaction, dispatch_uid="campaigns.outcome_accepted"
    )
    interaction_wrapped_up.connect(
        on_interaction_wrapped_up, sender=Interaction, dispatch_uid="campaigns.outcome_wrapped_up"
    )
    interaction_abandoned.connect(
        on_interaction_abandoned, sender=Interaction, dispatch_uid="campaigns.outcome_abandoned"
    )
