"""Every write of the contact center: enqueue, offers, accept/reject, wrap-up, abandon, transfer,
agent presence. Each runs in one transaction with the rows it changes locked, writes an event
row per interaction state change, publishes after commit, and then lets routing look for new
matches (see apps.interactions.acd for why looks run after commit)."""

from __future__ import annotations

import datetime as dt
from contextlib import suppress

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.roles import Role, has_role
from apps.core.exceptions import NotAllowed
from apps.customers.exceptions import InvalidContact
from apps.customers.models import ContactPoint, ContactPointKind, Customer
from apps.customers.normalize import normalize_phone
from apps.customers.selectors import find_customer
from apps.interactions import acd, events
from apps.interactions.exceptions import (
    ChannelNotServed,
    DispositionRequired,
    InvalidTransition,
    QueueFull,
)
from apps.interactions.models import (
    TEXT_CHANNELS,
    AgentCapacity,
    AgentProfile,
    Channel,
    Direction,
    Disposition,
    Interaction,
    InteractionStatus,
    Message,
    NotReadyReason,
    Presence,
    Queue,
)

# An agent's browser sends a heartbeat every 20 s; Chrome may slow a hidden tab's timers to one
# a minute, so only three silent minutes mean the agent is gone.
PRESENCE_TIMEOUT = dt.timedelta(minutes=3)
# Reason code an agent gets when an offer times out on them (redirect on no answer).
NO_ANSWER_REASON = "no_answer"
DEFAULT_CAPACITY = {
    Channel.VOICE: 1,
    Channel.VIDEO: 1,
    Channel.CHAT: 3,
    Channel.SMS: 3,
    Channel.WHATSAPP: 3,
    Channel.SOCIAL: 3,
    Channel.EMAIL: 5,
}


def _is_supervisor(user: User | None) -> bool:
    return user is None or has_role(user, Role.SUPERVISOR, Role.ADMIN)


def agent_profile_for(*, user: User) -> AgentProfile:
    """The user's agent profile, created with the default capacity on first use."""
    agent, created = AgentProfile.objects.get_or_create(user=user)
    if created:
        AgentCapacity.objects.bulk_create(
            [AgentCapacity(agent=agent, channel=c, capacity=n) for c, n in DEFAULT_CAPACITY.items()]
        )
    return agent


# -- agents --------------------------------------------------------------------------------------


def agent_set_presence(
    *, actor: User | None, agent_id: int, presence: str, reason: NotReadyReason | None = None
) -> AgentProfile:
    """Agents change their own presence; supervisors and admins anyone's. not_ready needs a
    reason; available makes the agent look for waiting work at once (after commit)."""
    if presence not in Presence.values:
        raise InvalidTransition(f"{presence!r} is not a presence.")
    if presence == Presence.NOT_READY and reason is None:
        raise InvalidTransition("Choose a not-ready reason.")
    now = timezone.now()
    with transaction.atomic():
        agent = AgentProfile.objects.select_for_update().get(pk=agent_id)
        if not _is_supervisor(actor) and (actor is None or agent.user_id != actor.pk):
            raise NotAllowed("Agents change only their own state.")
        became_available = presence == Presence.AVAILABLE and agent.presence != Presence.AVAILABLE
        agent.presence = presence
        agent.not_ready_reason = reason if presence == Presence.NOT_READY else None
        if became_available:
            agent.idle_since = now
        agent.last_seen_at = now
        agent.save(update_fields=["presence", "not_ready_reason", "idle_since", "last_seen_at"])
        acd.agent_refresh_state(agent, now)
        events.agent_changed(agent)
        if presence == Presence.AVAILABLE:
            acd.after_commit(acd.agent_look, agent.pk)
    return agent


def agent_seen(*, user_id: int, now: dt.datetime | None = None) -> None:
    """A heartbeat (websocket open or ping, a page load): the agent's browser is still there."""
    AgentProfile.objects.filter(user_id=user_id).update(last_seen_at=now or timezone.now())


def agents_presence_timeout(*, now: dt.datetime | None = None) -> int:
    """Agents whose browser has not been heard of for PRESENCE_TIMEOUT go offline. Presence
    lives on the server: a hidden or throttled tab still sends a heartbeat well within the
    timeout, and closing the websocket alone changes nothing (a reload reconnects). Returns how
    many agents went offline."""
    now = now or timezone.now()
    stale = AgentProfile.objects.exclude(presence=Presence.OFFLINE).filter(
        last_seen_at__lt=now - PRESENCE_TIMEOUT
    )
    count = 0
    for agent_id in stale.values_list("pk", flat=True):
        agent_set_presence(actor=None, agent_id=agent_id, presence=Presence.OFFLINE)
        count += 1
    return count


# -- interactions --------------------------------------------------------------------------------


def interaction_enqueue(
    *,
    queue: Queue,
    channel: str,
    customer: Customer | None = None,
    contact: str = "",
    direction: str = Direction.INBOUND,
    priority: int = 0,
    subject: str = "",
    actor: User | None = None,
) -> Interaction:
    """A new interaction waits in the queue and is offered at once (after commit) when an
    eligible agent is free. The customer is found by contact when not given."""
    if channel not in Channel.values:
        raise ChannelNotServed(f"{channel!r} is not a channel.")
    if channel not in (queue.channels or []):
        raise ChannelNotServed(f"Queue {queue.name} does not serve {channel}.")
    now = timezone.now()
    with transaction.atomic():
        locked = queue
        if queue.max_size is not None:
            # Count and insert under the queue's lock so two arrivals cannot both take the last place.
            locked = Queue.objects.select_for_update().get(pk=queue.pk)
            waiting = Interaction.objects.filter(queue=locked, status=InteractionStatus.QUEUED).count()
            if locked.max_size is not None and waiting >= locked.max_size:
                raise QueueFull(f"Queue {locked.name} is full ({locked.max_size} waiting).")
        if customer is None and contact:
            customer = find_customer(contact)
        interaction = Interaction.objects.create(
            channel=channel,
            direction=direction,
            customer=customer,
            contact=contact[:254],
            queue=locked,
            priority=priority,
            subject=subject[:200],
            status=InteractionStatus.QUEUED,
            queued_at=now,
            version=1,
        )
        acd.event_add(
            interaction, kind="queued", from_status="", at=now, actor_id=actor.pk if actor else None
        )
        events.interaction_changed(interaction)
        acd.after_commit(acd.interaction_look, interaction.pk)
    return interaction


def _locked(interaction_id: int) -> Interaction:
    return Interaction.objects.select_for_update().get(pk=interaction_id)


class _Reassigned(Exception):
    """The interaction changed agent between reading its agent and locking it."""


def _lock_agent_then_interaction(interaction_id: int) -> tuple[AgentProfile | None, Interaction]:
    """Lock the interaction's agent before the interaction, the order acd's agent look uses,
    so the two never wait on each other in opposite orders. When the interaction moved to
    another agent in between, the attempt's savepoint is rolled back, which releases its row
    locks, and the order is taken again: never waiting for an agent while holding the
    interaction."""
    while True:
        agent_id = Interaction.objects.filter(pk=interaction_id).values_list("agent_id", flat=True).get()
        try:
            with transaction.atomic():
                agent = AgentProfile.objects.select_for_update().get(pk=agent_id) if agent_id else None
                interaction = _locked(interaction_id)
                if interaction.agent_id != agent_id:
                    raise _Reassigned
                return agent, interaction
        except _Reassigned:
            continue


def _check_own(actor: User | None, agent: AgentProfile | None) -> None:
    if _is_supervisor(actor):
        return
    if agent is None or actor is None or agent.user_id != actor.pk:
        raise NotAllowed("This interaction is not yours.")


def _transition(interaction: Interaction, expected: tuple[str, ...], to: str) -> str:
    """Move the (locked) interaction to `to` if it is in one of `expected`; returns the status
    it left. The caller saves it and writes the event row."""
    if interaction.status not in expected:
        raise InvalidTransition(
            f"Interaction #{interaction.pk} is {interaction.status}, not {' or '.join(expected)}."
        )
    before = interaction.status
    interaction.status = to
    interaction.version += 1
    return before


def _release(agent: AgentProfile, interaction: Interaction, now: dt.datetime) -> None:
    """The interaction stops holding a slot of its agent's capacity."""
    acd.load_change(agent, interaction.channel, -1)
    agent.idle_since = now
    agent.save(update_fields=["idle_since"])


def _agent_freed(agent: AgentProfile, interaction: Interaction, now: dt.datetime) -> None:
    """The interaction ended for good: its slot is free, the agent's state follows, and the
    agent takes the next waiting interaction once this transaction commits."""
    _release(agent, interaction, now)
    acd.agent_refresh_state(agent, now)
    events.agent_changed(agent)
    acd.after_commit(acd.agent_look, agent.pk)


def interaction_accept(*, actor: User | None, interaction_id: int) -> Interaction:
    now = timezone.now()
    with transaction.atomic():
        agent, interaction = _lock_agent_then_interaction(interaction_id)
        _check_own(actor, agent)
        before = _transition(interaction, (InteractionStatus.OFFERED,), InteractionStatus.ACTIVE)
        interaction.accepted_at = now
        interaction.offer_expires_at = None
        interaction.save(update_fields=["status", "version", "accepted_at", "offer_expires_at"])
        acd.event_add(interaction, kind="accepted", from_status=before, at=now, actor_id=_id(actor))
        assert agent is not None
        acd.agent_refresh_state(agent, now)
        events.interaction_changed(interaction)
        events.agent_changed(agent)
    return interaction


def _id(user: User | None) -> int | None:
    return user.pk if user is not None else None


def _back_to_queue(
    interaction: Interaction, agent: AgentProfile, kind: str, now: dt.datetime, actor: User | None
) -> None:
    before = _transition(interaction, (InteractionStatus.OFFERED,), InteractionStatus.QUEUED)
    interaction.agent = None
    interaction.offered_at = None
    interaction.offer_expires_at = None
    interaction.save(update_fields=["status", "version", "agent", "offered_at", "offer_expires_at"])
    acd.event_add(interaction, kind=kind, from_status=before, at=now, agent_id=agent.pk, actor_id=_id(actor))
    _release(agent, interaction, now)
    events.interaction_changed(interaction)
    acd.after_commit(acd.interaction_look, interaction.pk)


def interaction_reject(*, actor: User | None, interaction_id: int) -> Interaction:
    """The agent declines an offer: it goes to the next agent; this agent is not offered it
    again and stays available for other work."""
    now = timezone.now()
    with transaction.atomic():
        agent, interaction = _lock_agent_then_interaction(interaction_id)
        _check_own(actor, agent)
        if agent is None:
            raise InvalidTransition(f"Interaction #{interaction_id} is not offered to anyone.")
        _back_to_queue(interaction, agent, "rejected", now, actor)
        acd.agent_refresh_state(agent, now)
        events.agent_changed(agent)
        acd.after_commit(acd.agent_look, agent.pk)
    return interaction


def interaction_offer_expire(*, interaction_id: int, version: int | None = None) -> bool:
    """An offer not accepted in time goes to the next agent and the agent turns not_ready
    (no answer). Idempotent: does nothing unless the offer is still open and due (and, with
    version, still the same offer). Returns whether it expired the offer."""
    now = timezone.now()
    with transaction.atomic():
        agent, interaction = _lock_agent_then_interaction(interaction_id)
        if (
            agent is None
            or interaction.status != InteractionStatus.OFFERED
            or (version is not None and interaction.version != version)
            or interaction.offer_expires_at is None
            or interaction.offer_expires_at > now
        ):
            return False
        _back_to_queue(interaction, agent, "offer_timeout", now, None)
        reason, _ = NotReadyReason.objects.get_or_create(
            code=NO_ANSWER_REASON, defaults={"label": "No answer (missed offer)"}
        )
        agent.presence = Presence.NOT_READY
        agent.not_ready_reason = reason
        agent.save(update_fields=["presence", "not_ready_reason"])
        acd.agent_refresh_state(agent, now)
        events.agent_changed(agent)
    return True


def offers_expire_due(*, now: dt.datetime | None = None) -> int:
    """Expire every offer past its time (the safety net behind each offer's own timer)."""
    now = now or timezone.now()
    due = list(
        Interaction.objects.filter(status=InteractionStatus.OFFERED, offer_expires_at__lte=now).values_list(
            "pk", flat=True
        )[:500]
    )
    return sum(interaction_offer_expire(interaction_id=pk) for pk in due)


def interaction_end(*, actor: User | None, interaction_id: int) -> Interaction:
    """The conversation is over (agent hung up or closed the chat): wrap-up starts, with the
    queue's timer. The slot stays held until the wrap-up is done."""
    now = timezone.now()
    with transaction.atomic():
        agent, interaction = _lock_agent_then_interaction(interaction_id)
        _check_own(actor, agent)
        before = _transition(interaction, (InteractionStatus.ACTIVE,), InteractionStatus.WRAP_UP)
        queue = Queue.objects.get(pk=interaction.queue_id) if interaction.queue_id else None
        interaction.wrap_up_at = now
        seconds = queue.wrap_up_seconds if queue is not None else 0
        interaction.wrap_up_expires_at = now + dt.timedelta(seconds=seconds)
        interaction.save(update_fields=["status", "version", "wrap_up_at", "wrap_up_expires_at"])
        acd.event_add(interaction, kind="ended", from_status=before, at=now, actor_id=_id(actor))
        if agent is not None:
            acd.agent_refresh_state(agent, now)
            events.agent_changed(agent)
        events.interaction_changed(interaction)
    return interaction


def interaction_wrap_up(
    *,
    actor: User | None,
    interaction_id: int,
    disposition: Disposition | None,
    notes: str = "",
    callback_at: dt.datetime | None = None,
) -> Interaction:
    """Close the interaction with its disposition (required when the queue says so; a DNC
    disposition sets do-not-call on the contact point). The agent's slot is free again and the
    agent takes the next waiting interaction at once."""
    now = timezone.now()
    with transaction.atomic():
        agent, interaction = _lock_agent_then_interaction(interaction_id)
        _check_own(actor, agent)
        queue = Queue.objects.get(pk=interaction.queue_id) if interaction.queue_id else None
        if disposition is None and queue is not None and queue.disposition_required:
            raise DispositionRequired("Choose a disposition to finish the wrap-up.")
        if disposition is not None and disposition.needs_callback_time and callback_at is None:
            raise DispositionRequired(f"{disposition.label} needs a callback time.")
        if (
            disposition is not None
            and queue is not None
            and queue.disposition_set is not None
            and not queue.disposition_set.dispositions.filter(pk=disposition.pk).exists()
        ):
            raise DispositionRequired(f"{disposition.label} is not a disposition of queue {queue.name}.")
        before = _transition(
            interaction,
            (InteractionStatus.ACTIVE, InteractionStatus.WRAP_UP),
            InteractionStatus.CLOSED,
        )
        interaction.disposition = disposition
        interaction.callback_at = callback_at
        if notes:
            interaction.notes = notes
        interaction.closed_at = now
        if interaction.wrap_up_at is None:
            interaction.wrap_up_at = now
        interaction.save(
            update_fields=[
                "status",
                "version",
                "disposition",
                "callback_at",
                "notes",
                "closed_at",
                "wrap_up_at",
            ]
        )
        acd.event_add(
            interaction,
            kind="closed",
            from_status=before,
            at=now,
            actor_id=_id(actor),
            data={"disposition": disposition.code if disposition else ""},
        )
        if disposition is not None and disposition.marks_dnc:
            _mark_dnc(interaction, now)
        if agent is not None:
            _agent_freed(agent, interaction, now)
        events.interaction_changed(interaction)
    return interaction


def interaction_wrap_up_expire(*, interaction_id: int, now: dt.datetime | None = None) -> bool:
    """Close a wrap-up whose timer ran out, in a queue that does not require a disposition (where
    one is required, the agent must still choose it: the timer only shows overtime). Idempotent;
    returns whether it closed the interaction."""
    now = now or timezone.now()
    with transaction.atomic():
        agent, interaction = _lock_agent_then_interaction(interaction_id)
        queue = Queue.objects.filter(pk=interaction.queue_id).first() if interaction.queue_id else None
        if (
            interaction.status != InteractionStatus.WRAP_UP
            or interaction.wrap_up_expires_at is None
            or interaction.wrap_up_expires_at > now
            or (queue is not None and queue.disposition_required)
        ):
            return False
        before = _transition(interaction, (InteractionStatus.WRAP_UP,), InteractionStatus.CLOSED)
        interaction.closed_at = now
        interaction.save(update_fields=["status", "version", "closed_at"])
        acd.event_add(interaction, kind="wrap_up_timeout", from_status=before, at=now)
        if agent is not None:
            _agent_freed(agent, interaction, now)
        events.interaction_changed(interaction)
    return True


def wrap_ups_expire_due(*, now: dt.datetime | None = None) -> int:
    """Close every wrap-up past its timer in queues without a required disposition (beat)."""
    now = now or timezone.now()
    due = list(
        Interaction.objects.filter(
            status=InteractionStatus.WRAP_UP, wrap_up_expires_at__lte=now, queue__disposition_required=False
        ).values_list("pk", flat=True)[:500]
    )
    return sum(interaction_wrap_up_expire(interaction_id=pk, now=now) for pk in due)


def queues_overflow_due(*, now: dt.datetime | None = None) -> int:
    """Move interactions that waited longer than their queue's max wait to its overflow queue
    (beat). The wait keeps counting from the first arrival; the interaction then looks for an
    agent of the new queue at once. Returns how many moved."""
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


def _mark_dnc(interaction: Interaction, now: dt.datetime) -> None:
    if interaction.customer_id is None:
        return
    points = ContactPoint.objects.filter(customer_id=interaction.customer_id, kind=ContactPointKind.PHONE)
    if interaction.contact:
        # A contact that is not a phone (a chat handle) marks every phone of the customer.
        with suppress(InvalidContact):
            points = points.filter(value=normalize_phone(interaction.contact))
    points.filter(do_not_call=False).update(
        do_not_call=True,
        do_not_call_at=now,
        do_not_call_source=f"disposition on interaction #{interaction.pk}",
    )


def interaction_abandon(*, interaction_id: int) -> Interaction:
    """The customer left (hung up, closed the chat) before an agent took it."""
    now = timezone.now()
    with transaction.atomic():
        agent, interaction = _lock_agent_then_interaction(interaction_id)
        before = _transition(
            interaction,
            (InteractionStatus.QUEUED, InteractionStatus.OFFERED),
            InteractionStatus.ABANDONED,
        )
        interaction.abandoned_at = now
        interaction.offer_expires_at = None
        interaction.save(update_fields=["status", "version", "abandoned_at", "offer_expires_at"])
        acd.event_add(interaction, kind="abandoned", from_status=before, at=now)
        if agent is not None:
            _agent_freed(agent, interaction, now)
        events.interaction_changed(interaction)
    return interaction


def message_add(
    *,
    actor: User | None,
    interaction_id: int,
    body: str,
    direction: str = Direction.OUTBOUND,
    sender: str = "",
    attachments: list[dict[str, object]] | None = None,
    provider: str = "",
    provider_id: str | None = None,
) -> Message:
    """A message on a text interaction. Agents reply on their own active interactions; inbound
    messages (actor None: a connector) are stored once per (provider, provider_id), so a
    redelivered webhook returns the message it already stored."""
    if not body.strip() and not attachments:
        raise InvalidTransition("A message needs a text or an attachment.")
    now = timezone.now()
    with transaction.atomic():
        if provider_id:
            existing = Message.objects.filter(provider=provider, provider_id=provider_id).first()
            if existing is not None:
                return existing
        agent, interaction = _lock_agent_then_interaction(interaction_id)
        if interaction.channel not in TEXT_CHANNELS:
            raise ChannelNotServed(f"{interaction.get_channel_display()} interactions have no messages.")
        if actor is not None:
            _check_own(actor, agent)
            if interaction.status != InteractionStatus.ACTIVE:
                raise InvalidTransition(
                    f"Interaction #{interaction.pk} is {interaction.status}: accept it first."
                )
        elif interaction.is_finished:
            raise InvalidTransition(f"Interaction #{interaction.pk} is {interaction.status}.")
        message = Message.objects.create(
            interaction=interaction,
            direction=direction,
            sender=sender or (actor.get_full_name() or actor.username if actor is not None else ""),
            author=actor,
            body=body,
            attachments=attachments or [],
            provider=provider,
            provider_id=provider_id or None,
        )
        interaction.version += 1
        interaction.save(update_fields=["version"])
        events.message_added(message, interaction, now)
    return message
