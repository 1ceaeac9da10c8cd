"""The timers beat runs every second or so: offers not answered in time, wrap-ups past their time,
interactions past their queue's max wait (overflow)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from apps.core.actors import SystemActor
from apps.interactions import acd, events
from apps.interactions.models import (
    QUEUED_AFTER_HOURS,
    AgentProfile,
    Disposition,
    DispositionCategory,
    Interaction,
    InteractionStatus,
    NotReadyReason,
    Presence,
    Queue,
)
from apps.interactions.services.agents import NO_ANSWER_REASON, offer_was_seen
from apps.interactions.services.locking import lock_agent_then_interaction
from apps.interactions.services.transitions import agent_freed, back_to_queue, transition

OFFER_TIMER = SystemActor("offer timer")


# Offers in a row an agent may miss without their page ever showing them before they are
# turned not ready anyway: a page that keeps its heartbeat (so the presence timeout keeps the
# agent signed in) but shows nothing, a broken script or a frozen tab, must not be offered every
# new arrival forever. Three is a page that missed three offers running while another one it
# showed would have reset the count (interaction_offer_seen).
UNSEEN_OFFERS_LIMIT = 3
WRAP_UP_TIMEOUT_DISPOSITION = ("wrap-up-timeout", "Wrap-up timed out")


def interaction_offer_expire(*, interaction_id: int, version: int | None = None) -> bool:
    """An offer not accepted in time goes back to its queue and on to the next agent.

    The agent turns not ready (no answer) only when the agent missed it: their page showed the
    offer (offer_seen_at, see services.interaction_offer_seen) and they are still available.
    An offer the page never acknowledged may simply not have reached it (a lost websocket
    message, a page between reloads): the agent stays available, and only UNSEEN_OFFERS_LIMIT
    such offers in a row turn them not ready (no answer). A page that is gone entirely stops
    its heartbeats, and the presence timeout takes the agent offline. An agent who chose not
    ready while the offer rang keeps the state they chose.

    Idempotent: does nothing unless the offer is still open and due (and, with version, still
    the same offer). Returns whether it expired the offer."""
    now = timezone.now()
    with transaction.atomic():
        agent, interaction = lock_agent_then_interaction(interaction_id)
        if (
            agent is None
            or interaction.status != InteractionStatus.OFFERED
            or (version is not None and interaction.version != version)
            or interaction.offer_expires_at is None
            or interaction.offer_expires_at > now
        ):
            return False
        seen = offer_was_seen(interaction)
        back_to_queue(interaction, agent, "offer_timeout", now, OFFER_TIMER)
        if agent.presence == Presence.AVAILABLE:
            _count_missed(agent, seen)
        acd.agent_refresh_state(agent, now)
        events.agent_changed(agent)
        if agent.presence == Presence.AVAILABLE:
            # Still available with a slot free again: the next waiting interaction (routing
            # does not offer this one to them again, offer_timeout counts as a refusal).
            acd.after_commit(acd.agent_look, agent.pk)
    return True


def _count_missed(agent: AgentProfile, seen: bool) -> None:
    """The (locked, available) agent let an offer time out: not ready (no answer) if their page
    showed it or if it is the UNSEEN_OFFERS_LIMIT-th unseen one in a row."""
    unseen = 0 if seen else agent.unseen_offers + 1
    if seen or unseen >= UNSEEN_OFFERS_LIMIT:
        reason, _ = NotReadyReason.objects.get_or_create(
            code=NO_ANSWER_REASON, defaults={"label": "No answer (missed offer)"}
        )
        agent.presence = Presence.NOT_READY
        agent.not_ready_reason = reason
        agent.unseen_offers = 0
        agent.save(update_fields=["presence", "not_ready_reason", "unseen_offers"])
    elif unseen != agent.unseen_offers:
        agent.unseen_offers = unseen
        agent.save(update_fields=["unseen_offers"])


def offers_expire_due(*, now: dt.datetime | None = None) -> int:
    """Expire every offer past its time: the offer timer, run by beat every second (a timeout is
    acted on within a second of offer_expires_at, which the desk's countdown shows). One read of
    a partial index (status offered) instead of a scheduled task per offer: no broker message on
    the routing path, and no timer lost with a worker."""
    now = now or timezone.now()
    due = list(
        Interaction.objects.filter(status=InteractionStatus.OFFERED, offer_expires_at__lte=now).values_list(
            "pk", flat=True
        )[:500]
    )
    return sum(interaction_offer_expire(interaction_id=pk) for pk in due)


def interaction_wrap_up_expire(*, interaction_id: int, now: dt.datetime | None = None) -> bool:
    """Close a wrap-up whose timer ran out, in every queue: a wrap-up that never ends holds the
    agent's slot for good. Where the queue requires a disposition and the agent chose none, it
    closes with the system's "Wrap-up timed out" disposition (category other; not final, as the
    outcome is unknown; inactive, so no agent chooses it), which reports tell from an agent's
    choice. Idempotent; returns whether it closed the interaction. Locks: the agent, then the
    interaction."""
    now = now or timezone.now()
    with transaction.atomic():
        agent, interaction = lock_agent_then_interaction(interaction_id)
        if (
            interaction.status != InteractionStatus.WRAP_UP
            or interaction.wrap_up_expires_at is None
            or interaction.wrap_up_expires_at > now
        ):
            return False
        required = (
            interaction.queue_id is not None
            and Queue.objects.filter(pk=interaction.queue_id, disposition_required=True).exists()
        )
        before = transition(interaction, (InteractionStatus.WRAP_UP,), InteractionStatus.CLOSED)
        interaction.closed_at = now
        fields = ["status", "version", "closed_at"]
        if required and interaction.disposition_id is None:
            interaction.disposition = _wrap_up_timeout_disposition()
            fields.append("disposition")
        interaction.save(update_fields=fields)
        acd.event_add(
            interaction,
            kind="wrap_up_timeout",
            from_status=before,
            at=now,
            data={"disposition": interaction.disposition.code if interaction.disposition else ""},
        )
        if agent is not None:
            agent_freed(agent, interaction, now)
        events.interaction_changed(interaction)
    return True


def _wrap_up_timeout_disposition() -> Disposition:
    code, label = WRAP_UP_TIMEOUT_DISPOSITION
    # Inactive: the system records it, no agent picks it from the desk's list.
    disposition, _ = Disposition.objects.get_or_create(
        code=code,
        defaults={
            "label": label,
            "category": DispositionCategory.OTHER,
            "is_final": False,
            "is_active": False,
        },
    )
    return disposition


def wrap_ups_expire_due(*, now: dt.datetime | None = None) -> int:
    """Close every wrap-up past its timer (beat, every few seconds)."""
    now = now or timezone.now()
    due = list(
        Interaction.objects.filter(status=InteractionStatus.WRAP_UP, wrap_up_expires_at__lte=now).values_list(
            "pk", flat=True
        )[:500]
    )
    return sum(interaction_wrap_up_expire(interaction_id=pk, now=now) for pk in due)


def queues_overflow_due(*, now: dt.datetime | None = None) -> int:
    """Move interactions that waited longer than their queue's max wait to its overflow queue
    (beat), unless that queue is closed now (business hours; email moves anyway, as it queues
    after hours). The wait keeps counting from the first arrival; the interaction then looks for
    an agent of the new queue at once. Returns how many moved."""
    now = now or timezone.now()
    moved = 0
    for queue in Queue.objects.filter(
        max_wait_seconds__isnull=False, overflow_queue__isnull=False
    ).select_related("overflow_queue"):
        target = queue.overflow_queue
        assert target is not None and queue.max_wait_seconds is not None
        limit = now - dt.timedelta(seconds=queue.max_wait_seconds)
        due = list(
            Interaction.objects.filter(queue=queue, status=InteractionStatus.QUEUED, queued_at__lte=limit)
            .order_by("queued_at")
            .values_list("pk", flat=True)[:500]
        )
        for interaction_id in due:
            moved += _overflow(interaction_id, queue.pk, target, now)
    return moved


def _overflow(interaction_id: int, from_queue_id: int, target: Queue, now: dt.datetime) -> bool:
    with transaction.atomic():
        # SKIP LOCKED: an interaction being offered right now is not waiting any more.
        interaction = (
            Interaction.objects.select_for_update(skip_locked=True)
            .filter(pk=interaction_id, status=InteractionStatus.QUEUED, queue_id=from_queue_id)
            .first()
        )
        if interaction is None or not target.is_active or interaction.channel not in (target.channels or []):
            return False
        if interaction.channel not in QUEUED_AFTER_HOURS and not target.is_open(now):
            # A closed overflow queue has nobody to answer: the call or chat waits where it is
            # (its own queue is open, or it would not be queued) rather than in a closed one.
            return False
        interaction.queue = target
        interaction.version += 1
        interaction.save(update_fields=["queue", "version"])
        acd.event_add(
            interaction,
            kind="overflowed",
            from_status=InteractionStatus.QUEUED,
            at=now,
            data={"from_queue": from_queue_id},
        )
        events.interaction_changed(interaction)
        acd.after_commit(acd.interaction_look, interaction.pk)
    return True
