"""Every write of the contact center: enqueue, offers, accept/reject, wrap-up, abandon, transfer,
agent presence. Each runs in one transaction with the rows it changes locked, writes an event
row per interaction state change, publishes after commit, and then lets routing look for new
matches (see apps.interactions.acd for why looks run after commit)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.roles import Role, has_role
from apps.core.exceptions import NotAllowed
from apps.customers.exceptions import InvalidContact
from apps.customers.models import ContactPoint, ContactPointKind, Customer
from apps.customers.normalize import normalize_phone
from apps.customers.selectors import find_customer
from apps.interactions import acd, events, voice
from apps.interactions.exceptions import (
    AgentUnavailable,
    ChannelNotServed,
    DispositionRequired,
    InvalidTarget,
    InvalidTransition,
    NotAVoiceInteraction,
    QueueClosed,
    QueueFull,
    UnknownAction,
)
from apps.interactions.models import (
    QUEUED_AFTER_HOURS,
    REAL_TIME_CHANNELS,
    TEXT_CHANNELS,
    AgentCapacity,
    AgentProfile,
    Channel,
    Direction,
    Disposition,
    Interaction,
    InteractionEvent,
    InteractionParticipant,
    InteractionStatus,
    Message,
    NotReadyReason,
    ParticipantRole,
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


_CHANNELS = frozenset(Channel.values)  # Channel.values builds its list on every read


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
    """A new interaction waits in the queue and is offered at once when an eligible agent is
    free: in this transaction when one can be locked without waiting, else by the look after
    commit. The customer is found by contact when not given.

    Business hours: when the queue is closed (Queue.is_open), an email still queues there; a
    call or chat goes to the queue's after-hours queue when one is set, is active, serves the
    channel and is open (following that queue's own after-hours queue in turn); otherwise it is
    created already finished, status "missed", with a "closed_hours" event carrying when the
    queue opens next, and never queued (queued_at stays empty, so it counts in no wait, offer
    or service level; reports count status "missed"). The caller reads the returned status.
    Locks: the queue's row when it has a maximum size (count then insert); the agent offered
    to, taken with SKIP LOCKED (acd.offer_new). Transactions: on PostgreSQL an offer to a free
    agent is one statement that writes everything (acd.offers_in_one_statement), so on a queue
    without a maximum size it runs as its own transaction (or in the caller's, when there is
    one): no BEGIN and COMMIT round trips on the hottest path. When it claims nobody it wrote
    nothing, and the interaction is inserted queued in a transaction, its look after commit."""
    if channel not in _CHANNELS:
        raise ChannelNotServed(f"{channel!r} is not a channel.")
    if channel not in (queue.channels or []):
        raise ChannelNotServed(f"Queue {queue.name} does not serve {channel}.")
    now = timezone.now()
    destination = _destination_at(queue, channel, now)
    if customer is None and contact:
        customer = find_customer(contact)
    # What the caller said about the interaction, cut to its columns.
    described: dict[str, Any] = {
        "channel": channel,
        "direction": direction,
        "customer": customer,
        "contact": contact[:254],
        "priority": priority,
        "subject": subject[:200],
    }
    if destination is None:
        with transaction.atomic():
            return _missed_after_hours(queue, described, now, actor)
    tried = False
    if destination.max_size is None and acd.offers_in_one_statement():
        interaction, opening = _arrival(queue, destination, described, now, actor)
        if acd.offer_new(interaction, destination, opening):
            return interaction
        tried = True  # nobody free a moment ago: the look after commit covers an agent freed since
    with transaction.atomic():
        locked = destination
        if destination.max_size is not None:
            # Count and insert under the queue's lock so two arrivals cannot both take the last place.
            locked = Queue.objects.select_for_update().get(pk=destination.pk)
            waiting = Interaction.objects.filter(queue=locked, status=InteractionStatus.QUEUED).count()
            if locked.max_size is not None and waiting >= locked.max_size:
                raise QueueFull(f"Queue {locked.name} is full ({locked.max_size} waiting).")
        interaction, opening = _arrival(queue, locked, described, now, actor)
        # Offered at once when an agent is free (acd rule 2's shortcut: the row is inserted
        # already offered), else inserted queued and looked for after commit.
        if tried or not acd.offer_new(interaction, locked, opening):
            interaction.save(force_insert=True)
            opening.save(force_insert=True)
            events.interaction_changed(interaction)
            acd.after_commit(acd.interaction_look, interaction.pk)
    return interaction


def _arrival(
    queue: Queue, destination: Queue, described: dict[str, Any], now: dt.datetime, actor: User | None
) -> tuple[Interaction, InteractionEvent]:
    """A new interaction queued in `destination` (not saved) and its opening "queued" event."""
    interaction = Interaction(
        queue=destination, status=InteractionStatus.QUEUED, queued_at=now, version=1, **described
    )
    opening = acd.event_build(
        interaction,
        kind="queued",
        from_status="",
        at=now,
        actor_id=_id(actor),
        data={"after_hours_of": queue.pk} if destination.pk != queue.pk else None,
    )
    return interaction, opening


def _destination_at(queue: Queue, channel: str, now: dt.datetime) -> Queue | None:
    """Where an arrival on `channel` waits at `now`: the queue when open (or when the channel
    waits after hours), else the first open queue down its after-hours chain, else None."""
    if channel in QUEUED_AFTER_HOURS or queue.is_open(now):
        return queue
    seen = {queue.pk}
    next_id = queue.after_hours_queue_id
    while next_id is not None and next_id not in seen:
        seen.add(next_id)
        candidate = Queue.objects.filter(pk=next_id).first()
        if candidate is None:
            return None
        if candidate.is_active and channel in (candidate.channels or []) and candidate.is_open(now):
            return candidate
        next_id = candidate.after_hours_queue_id
    return None


def _missed_after_hours(
    queue: Queue, described: dict[str, Any], now: dt.datetime, actor: User | None
) -> Interaction:
    opens_at = queue.next_open_at(now)
    interaction = Interaction.objects.create(
        queue=queue, status=InteractionStatus.MISSED, closed_at=now, version=1, **described
    )
    acd.event_add(
        interaction,
        kind="closed_hours",
        from_status="",
        at=now,
        actor_id=_id(actor),
        data={"opens_at": opens_at.isoformat() if opens_at else None},
    )
    events.interaction_changed(interaction)
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


@dataclass
class _Held:
    """What _lock_agents_then_interaction locked: the interaction, its agent, and every agent
    row it locked (its agent, the agents asked for, the agents conferenced into the call)."""

    interaction: Interaction
    agent: AgentProfile | None
    agents: dict[int, AgentProfile]


def _conference_agent_ids(interaction_id: int) -> set[int]:
    return set(
        InteractionParticipant.objects.filter(
            interaction_id=interaction_id, left_at__isnull=True, role=ParticipantRole.CONFERENCE
        )
        .exclude(agent=None)
        .values_list("agent_id", flat=True)
    )


def _lock_agents_then_interaction(interaction_id: int, *, also: Iterable[int] = ()) -> _Held:
    """The lock order of _lock_agent_then_interaction for actions that change more than one
    agent (a transfer to an agent, a conference, the end of a conferenced call): every agent
    row first, in primary-key order, then the interaction. Only these actions wait for a second
    agent while holding one, and all of them take agents in the same order, so they cannot
    wait on each other in a circle; everything else waits for at most one agent before the
    interaction, or skips locked rows. For a voice or video call the agents conferenced into it
    are locked too (their slot is freed when the call ends or moves). When the interaction's
    agent or its conferenced agents changed between the read and the locks, the savepoint is
    rolled back (releasing its locks) and the order taken again. Agents named in `also` that
    do not exist are missing from `agents`."""
    extra = {pk for pk in also if pk is not None}
    while True:
        agent_id, channel, status = (
            Interaction.objects.filter(pk=interaction_id).values_list("agent_id", "channel", "status").get()
        )
        # Participants are on active calls only (ending or moving a call closes them).
        on_call = channel in REAL_TIME_CHANNELS and status == InteractionStatus.ACTIVE
        conferenced = _conference_agent_ids(interaction_id) if on_call else set()
        wanted = extra | conferenced | ({agent_id} if agent_id is not None else set())
        try:
            with transaction.atomic():
                agents: dict[int, AgentProfile] = {}
                for pk in sorted(wanted):
                    row = AgentProfile.objects.select_for_update().filter(pk=pk).first()
                    if row is not None:
                        agents[pk] = row
                interaction = _locked(interaction_id)
                if interaction.agent_id != agent_id:
                    raise _Reassigned
                if (
                    channel in REAL_TIME_CHANNELS
                    and interaction.status == InteractionStatus.ACTIVE
                    and not _conference_agent_ids(interaction_id) <= set(agents)
                ):
                    raise _Reassigned
                return _Held(interaction, agents.get(agent_id) if agent_id is not None else None, agents)
        except _Reassigned:
            continue


def _check_own(actor: User | None, agent: AgentProfile | None) -> None:
    if _is_supervisor(actor):
        return
    if agent is None or actor is None or agent.user_id != actor.pk:
        raise NotAllowed("This interaction is not yours.")


def _expect(interaction: Interaction, expected: tuple[str, ...]) -> None:
    if interaction.status not in expected:
        raise InvalidTransition(
            f"Interaction #{interaction.pk} is {interaction.status}, not {' or '.join(expected)}."
        )


def _transition(interaction: Interaction, expected: tuple[str, ...], to: str) -> str:
    """Move the (locked) interaction to `to` if it is in one of `expected`; returns the status
    it left. The caller saves it and writes the event row."""
    _expect(interaction, expected)
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
        # The customer's first answer: a transferred interaction keeps it, so speed of answer
        # and service level count the customer's wait once (the event rows have every answer).
        interaction.accepted_at = interaction.accepted_at or now
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


def interaction_end(*, actor: User | None, interaction_id: int) -> Interaction:
    """The conversation is over (agent hung up or closed the chat): wrap-up starts, with the
    queue's timer. The slot stays held until the wrap-up is done. A voice or video call is hung
    up through the voice gateway (a connector reporting the customer's hang-up calls this too:
    gateways treat a second hang-up as done), its participants leave (conferenced agents get
    their slot back) and a running hold is closed. Locks: the agents (its own and the
    conferenced ones), then the interaction."""
    now = timezone.now()
    with transaction.atomic():
        held = _lock_agents_then_interaction(interaction_id)
        agent, interaction = held.agent, held.interaction
        _check_own(actor, agent)
        _expect(interaction, (InteractionStatus.ACTIVE,))
        _call_over(held, now, actor, hang_up=True)
        before = _transition(interaction, (InteractionStatus.ACTIVE,), InteractionStatus.WRAP_UP)
        queue = Queue.objects.get(pk=interaction.queue_id) if interaction.queue_id else None
        interaction.wrap_up_at = now
        seconds = queue.wrap_up_seconds if queue is not None else 0
        interaction.wrap_up_expires_at = now + dt.timedelta(seconds=seconds)
        interaction.save(
            update_fields=["status", "version", "wrap_up_at", "wrap_up_expires_at", *CALL_STATE_FIELDS]
        )
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
        held = _lock_agents_then_interaction(interaction_id)
        agent, interaction = held.agent, held.interaction
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
        _expect(interaction, (InteractionStatus.ACTIVE, InteractionStatus.WRAP_UP))
        if interaction.status == InteractionStatus.ACTIVE:
            _call_over(held, now, actor, hang_up=True)
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
                *CALL_STATE_FIELDS,
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


# -- transfers, notes and call control ----------------------------------------------------------

# The fields _call_over may change, for the save of the action that ends or moves a call.
CALL_STATE_FIELDS = ("on_hold", "muted", "hold_started_at", "hold_seconds")
VOICE_ACTIONS = ("hold", "resume", "mute", "unmute")


def _is_own(actor: User | None, agent: AgentProfile | None) -> bool:
    return actor is not None and agent is not None and agent.user_id == actor.pk


def _hold_close(interaction: Interaction, now: dt.datetime) -> int:
    """End a running hold, adding its length to hold_seconds; returns its length in seconds."""
    if not interaction.on_hold or interaction.hold_started_at is None:
        interaction.on_hold = False
        return 0
    seconds = max(0, round((now - interaction.hold_started_at).total_seconds()))
    interaction.hold_seconds += seconds
    interaction.on_hold = False
    interaction.hold_started_at = None
    return seconds


def _participant_event(interaction: Interaction, participant: InteractionParticipant, left: bool) -> None:
    """Tell the participant's own desktop (a conferenced agent's, a supervisor's) and the wallboard."""
    groups = [events.WALLBOARD_GROUP]
    if participant.user_id is not None:
        groups.append(events.agent_group(participant.user_id))
    events.publish(
        groups,
        {
            "kind": "participant",
            "id": participant.pk,
            "interaction": interaction.pk,
            "version": interaction.version,
            "role": participant.role,
            "left": left,
        },
    )


def _participant_close(
    held: _Held,
    participant: InteractionParticipant,
    now: dt.datetime,
    actor: User | None,
) -> None:
    """The participant is off the call (the caller told the gateway, or hung the call up). A
    conferenced agent gets their slot back and takes waiting work after commit."""
    interaction = held.interaction
    participant.left_at = now
    participant.save(update_fields=["left_at"])
    acd.event_add(
        interaction,
        kind="participant_left",
        from_status=interaction.status,
        at=now,
        actor_id=_id(actor),
        data={"participant": participant.pk, "role": participant.role, "agent": participant.agent_id},
    )
    if participant.role == ParticipantRole.CONFERENCE and participant.agent_id is not None:
        _agent_freed(held.agents[participant.agent_id], interaction, now)
    _participant_event(interaction, participant, left=True)


def _call_over(held: _Held, now: dt.datetime, actor: User | None, *, hang_up: bool) -> None:
    """A voice or video call ends for its agent (hang-up) or leaves them (transfer): every
    participant leaves and a running hold is closed. With hang_up the gateway hangs the call up
    (which drops every leg); without, each participant's leg is dropped one by one. The caller
    saves CALL_STATE_FIELDS."""
    interaction = held.interaction
    if interaction.channel not in REAL_TIME_CHANNELS:
        return
    gateway = voice.gateway()
    participants = list(interaction.participants.filter(left_at__isnull=True).order_by("pk"))
    if hang_up:
        gateway.hang_up(interaction)
    else:
        for participant in participants:
            gateway.participant_remove(interaction, participant)
    for participant in participants:
        _participant_close(held, participant, now, actor)
    _hold_close(interaction, now)
    interaction.muted = False


def _check_available(agent: AgentProfile, channel: str) -> None:
    """The agent (locked) may take one more interaction of `channel` now: available, a free slot
    for the channel, and not on a call (the rule routing applies, minus queues and skills: a
    person chose them)."""
    name = agent.user.get_full_name() or agent.user.username
    if agent.presence != Presence.AVAILABLE:
        raise AgentUnavailable(f"{name} is {agent.get_presence_display().lower()}.")
    if agent.real_time_load:
        raise AgentUnavailable(f"{name} is on a call.")
    if not AgentCapacity.objects.filter(agent=agent, channel=channel, load__lt=F("capacity")).exists():
        raise AgentUnavailable(f"{name} has no free slot for {channel}.")


def interaction_transfer(
    *,
    actor: User | None,
    interaction_id: int,
    to_queue_id: int | None = None,
    to_agent_id: int | None = None,
    note: str = "",
) -> Interaction:
    """Move an interaction to another queue or agent (exactly one target).

    Who: the interaction's agent while it is active (they transfer their call or chat);
    supervisors and admins (or the system, actor None) while it is queued, offered or active
    (a reassign from the wallboard).

    To a queue: it must be active, serve the channel, have room and be open (email queues after
    hours; a call or chat to a closed queue is refused with QueueClosed). The interaction leaves
    its agent, whose slot is free at once with no wrap-up (the agent takes waiting work after
    commit), and waits in the target queue with its first arrival (queued_at) kept, so its age
    and place in line count the customer's whole wait; it is routed at once after commit.

    To an agent: the agent must be available, off calls and have a free slot for the channel
    (else AgentUnavailable and nothing changed); queues and skills are not asked, a person
    chose. It is offered to them directly in its current queue, with that queue's offer timeout
    and auto-accept; a reject or timeout sends it back to that queue, as any offer.

    A voice or video call is moved through the voice gateway; its participants leave and a
    running hold ends. `note` is appended to the interaction's notes, for the next agent.

    What reports see: the status is never "transferred" for these internal moves (the row goes
    on, queued or offered again; the status value is left for a call transferred out of the
    contact center). Each move is an event "transferred" (from the status it left to queued)
    whose data holds from/to queue and agent and the note; a transfer to an agent is followed
    by its "offered" event. queued_at is the first arrival and accepted_at the first answer, so
    waits, speed of answer and service level count the customer once; the interaction counts
    in its current queue, the event rows say where it was before.

    Locks: the agents (its own, the target, the conferenced ones) in primary-key order, then the
    interaction, then the target queue when it has a maximum size."""
    if (to_queue_id is None) == (to_agent_id is None):
        raise InvalidTarget("Transfer to a queue or to an agent: give exactly one.")
    now = timezone.now()
    with transaction.atomic():
        held = _lock_agents_then_interaction(interaction_id, also=[to_agent_id] if to_agent_id else [])
        interaction, agent = held.interaction, held.agent
        if _is_supervisor(actor):
            allowed: tuple[str, ...] = (
                InteractionStatus.QUEUED,
                InteractionStatus.OFFERED,
                InteractionStatus.ACTIVE,
            )
        else:
            _check_own(actor, agent)
            allowed = (InteractionStatus.ACTIVE,)
        _expect(interaction, allowed)
        from_queue_id = interaction.queue_id
        target_agent: AgentProfile | None = None
        if to_agent_id is not None:
            target_agent = held.agents.get(to_agent_id)
            if target_agent is None:
                raise InvalidTarget(f"Agent #{to_agent_id} does not exist.")
            if target_agent.pk == interaction.agent_id:
                raise InvalidTarget(f"Interaction #{interaction.pk} is already with this agent.")
            _check_available(target_agent, interaction.channel)
            queue = Queue.objects.filter(pk=interaction.queue_id).first() if interaction.queue_id else None
            if queue is None:
                raise InvalidTarget(f"Interaction #{interaction.pk} has no queue to return to.")
        else:
            assert to_queue_id is not None
            queue = _transfer_queue(interaction, to_queue_id, now)
        if interaction.status == InteractionStatus.ACTIVE and interaction.channel in REAL_TIME_CHANNELS:
            _call_over(held, now, actor, hang_up=False)
            voice.gateway().transfer(interaction, to_queue_id=to_queue_id, to_agent_id=to_agent_id)
        before = _transition(interaction, allowed, InteractionStatus.QUEUED)
        interaction.queue = queue
        interaction.agent = None
        interaction.offered_at = None
        interaction.offer_expires_at = None
        if note.strip():
            interaction.notes = (
                f"{interaction.notes}\n\n{note.strip()}" if interaction.notes else note.strip()
            )
        interaction.save(
            update_fields=[
                "status",
                "version",
                "queue",
                "agent",
                "offered_at",
                "offer_expires_at",
                "notes",
                *CALL_STATE_FIELDS,
            ]
        )
        acd.event_add(
            interaction,
            kind="transferred",
            from_status=before,
            at=now,
            agent_id=agent.pk if agent is not None else None,
            actor_id=_id(actor),
            data={
                "from_queue": from_queue_id,
                "to_queue": queue.pk if to_queue_id is not None else None,
                "from_agent": agent.pk if agent is not None else None,
                "to_agent": to_agent_id,
                "note": note.strip(),
            },
        )
        events.interaction_changed(interaction)
        if agent is not None:
            # Its desktop drops the interaction (interaction_changed reaches the new agent only).
            events.publish(
                [events.agent_group(agent.user_id)],
                {"kind": "interaction", "id": interaction.pk, "version": interaction.version},
            )
        if target_agent is not None and not acd.offer_to(interaction, target_agent, queue, now):
            # _check_available saw the slot free, under the agent's lock: cannot happen.
            raise AgentUnavailable(f"Agent #{target_agent.pk} has no free slot for {interaction.channel}.")
        if target_agent is None:
            # Registered before the freed agent's look: the interaction finds its agent first.
            acd.after_commit(acd.interaction_look, interaction.pk)
        if agent is not None:
            _agent_freed(agent, interaction, now)
    return interaction


def _transfer_queue(interaction: Interaction, queue_id: int, now: dt.datetime) -> Queue:
    """The target queue of a transfer, checked: exists, active, serves the channel, open (or the
    channel waits after hours), has room (locked for the count when it has a maximum)."""
    queue = Queue.objects.filter(pk=queue_id).first()
    if queue is None:
        raise InvalidTarget(f"Queue #{queue_id} does not exist.")
    if not queue.is_active:
        raise QueueClosed(f"Queue {queue.name} is switched off.")
    if interaction.channel not in (queue.channels or []):
        raise ChannelNotServed(f"Queue {queue.name} does not serve {interaction.channel}.")
    if interaction.status == InteractionStatus.QUEUED and interaction.queue_id == queue.pk:
        raise InvalidTarget(f"Interaction #{interaction.pk} already waits in {queue.name}.")
    if interaction.channel not in QUEUED_AFTER_HOURS and not queue.is_open(now):
        opens = queue.next_open_at(now)
        when = f" (opens {opens:%a %d %b %H:%M} {queue.time_zone})" if opens else ""
        raise QueueClosed(f"Queue {queue.name} is closed{when}.")
    if queue.max_size is not None:
        queue = Queue.objects.select_for_update().get(pk=queue.pk)
        waiting = Interaction.objects.filter(queue=queue, status=InteractionStatus.QUEUED).count()
        if queue.max_size is not None and waiting >= queue.max_size:
            raise QueueFull(f"Queue {queue.name} is full ({queue.max_size} waiting).")
    return queue


def interaction_note_set(*, actor: User | None, interaction_id: int, notes: str) -> Interaction:
    """Replace the interaction's notes while it is active or in wrap-up: its agent, or a
    supervisor or admin. Publishes the change (new version). Locks: its agent, then it."""
    with transaction.atomic():
        agent, interaction = _lock_agent_then_interaction(interaction_id)
        _check_own(actor, agent)
        _expect(interaction, (InteractionStatus.ACTIVE, InteractionStatus.WRAP_UP))
        interaction.notes = notes
        interaction.version += 1
        interaction.save(update_fields=["notes", "version"])
        events.interaction_changed(interaction)
    return interaction


def _check_call(interaction: Interaction) -> None:
    if interaction.channel not in REAL_TIME_CHANNELS:
        raise NotAVoiceInteraction(
            f"{interaction.get_channel_display()} interactions have no call to control."
        )
    _expect(interaction, (InteractionStatus.ACTIVE,))


def interaction_voice_control(*, actor: User | None, interaction_id: int, action: str) -> Interaction:
    """Hold, resume, mute or unmute the agent's side of an active voice or video call, through
    the voice gateway. Only the agent on the call (or the system, actor None; supervisors
    listen, whisper or barge instead). The interaction keeps the state (on_hold, muted) and the
    hold time (hold_count holds, hold_seconds once each ends). A hold while on hold (a second
    click) is refused. Locks: its agent, then it."""
    if action not in VOICE_ACTIONS:
        raise UnknownAction(f"{action!r} is not a call control ({', '.join(VOICE_ACTIONS)}).")
    now = timezone.now()
    with transaction.atomic():
        agent, interaction = _lock_agent_then_interaction(interaction_id)
        if actor is not None and not _is_own(actor, agent):
            raise NotAllowed("Only the agent on the call holds or mutes it.")
        _check_call(interaction)
        gateway = voice.gateway()
        data: dict[str, object] = {}
        if action == "hold":
            if interaction.on_hold:
                raise InvalidTransition("The call is already on hold.")
            gateway.hold(interaction)
            interaction.on_hold = True
            interaction.hold_started_at = now
            interaction.hold_count += 1
        elif action == "resume":
            if not interaction.on_hold:
                raise InvalidTransition("The call is not on hold.")
            gateway.resume(interaction)
            data["held_seconds"] = _hold_close(interaction, now)
        elif action == "mute":
            if interaction.muted:
                raise InvalidTransition("The call is already muted.")
            gateway.mute(interaction)
            interaction.muted = True
        else:
            if not interaction.muted:
                raise InvalidTransition("The call is not muted.")
            gateway.unmute(interaction)
            interaction.muted = False
        interaction.version += 1
        interaction.save(update_fields=["version", "hold_count", *CALL_STATE_FIELDS])
        acd.event_add(
            interaction, kind=action, from_status=interaction.status, at=now, actor_id=_id(actor), data=data
        )
        events.interaction_changed(interaction)
    return interaction


def interaction_conference_add(
    *,
    actor: User | None,
    interaction_id: int,
    to_agent_id: int | None = None,
    to_number: str = "",
) -> InteractionParticipant:
    """Add a colleague or an outside number to an active voice or video call (exactly one).
    The call's agent, a supervisor or an admin may. A colleague must be available, off calls and
    have a free slot on the call's channel; while conferenced they hold that slot and show busy
    (routing offers them nothing, as during a call of their own) until they leave or the call
    ends. The number is normalized to E.164. Locks: the agents (the call's, the colleague) in
    primary-key order, then the interaction."""
    number = to_number.strip()
    if (to_agent_id is None) == (not number):
        raise InvalidTarget("Add an agent or a number: give exactly one.")
    if number:
        try:
            number = normalize_phone(number)
        except InvalidContact as exc:
            raise InvalidTarget(f"{to_number!r} is not a phone number.") from exc
    now = timezone.now()
    with transaction.atomic():
        held = _lock_agents_then_interaction(interaction_id, also=[to_agent_id] if to_agent_id else [])
        interaction, agent = held.interaction, held.agent
        _check_own(actor, agent)
        _check_call(interaction)
        on_call = interaction.participants.filter(left_at__isnull=True)
        target: AgentProfile | None = None
        if to_agent_id is not None:
            target = held.agents.get(to_agent_id)
            if target is None:
                raise InvalidTarget(f"Agent #{to_agent_id} does not exist.")
            if target.pk == interaction.agent_id or on_call.filter(user_id=target.user_id).exists():
                raise InvalidTransition(f"{target.user.username} is already on the call.")
            _check_available(target, interaction.channel)
        elif on_call.filter(number=number).exists():
            raise InvalidTransition(f"{number} is already on the call.")
        participant = InteractionParticipant.objects.create(
            interaction=interaction,
            agent=target,
            user_id=target.user_id if target is not None else None,
            number=number,
            role=ParticipantRole.CONFERENCE,
            added_by=actor,
            joined_at=now,
        )
        voice.gateway().conference_add(interaction, participant)
        if target is not None:
            acd.load_change(target, interaction.channel, +1)
            acd.agent_refresh_state(target, now)
            events.agent_changed(target)
        interaction.version += 1
        interaction.save(update_fields=["version"])
        acd.event_add(
            interaction,
            kind="conference_added",
            from_status=interaction.status,
            at=now,
            actor_id=_id(actor),
            data={"participant": participant.pk, "agent": to_agent_id, "number": number},
        )
        events.interaction_changed(interaction)
        _participant_event(interaction, participant, left=False)
    return participant


def interaction_monitor(*, actor: User | None, interaction_id: int, mode: str) -> InteractionParticipant:
    """A supervisor or admin listens to, whispers to the agent of, or barges into an active
    voice or video call, through the voice gateway. Asking for another mode while on the call
    switches: the current stay ends and one in the new mode starts (each a participant row).
    Monitoring takes no slot of anyone's capacity. Locks: the call's agent, then the call."""
    if mode not in voice.MONITOR_MODES:
        raise UnknownAction(f"{mode!r} is not a monitoring mode ({', '.join(voice.MONITOR_MODES)}).")
    if actor is None or not has_role(actor, Role.SUPERVISOR, Role.ADMIN):
        raise NotAllowed("Only supervisors and admins listen, whisper or barge.")
    now = timezone.now()
    with transaction.atomic():
        held = _lock_agents_then_interaction(interaction_id)
        interaction, agent = held.interaction, held.agent
        _check_call(interaction)
        if _is_own(actor, agent):
            raise InvalidTarget("This is your own call.")
        current = interaction.participants.filter(left_at__isnull=True, user=actor).first()
        if current is not None and current.role == mode:
            raise InvalidTransition(f"You are already on the call ({mode}).")
        if current is not None and current.role == ParticipantRole.CONFERENCE:
            raise InvalidTransition("You are on the call as a conference participant.")
        if current is not None:
            _participant_close(held, current, now, actor)
        participant = InteractionParticipant.objects.create(
            interaction=interaction, user=actor, role=mode, added_by=actor, joined_at=now
        )
        voice.gateway().monitor(interaction, participant, mode)
        interaction.version += 1
        interaction.save(update_fields=["version"])
        acd.event_add(
            interaction,
            kind="monitor",
            from_status=interaction.status,
            at=now,
            actor_id=actor.pk,
            data={
                "participant": participant.pk,
                "mode": mode,
                "previous_mode": current.role if current is not None else None,
            },
        )
        events.interaction_changed(interaction)
        _participant_event(interaction, participant, left=False)
    return participant


def interaction_participant_leave(*, actor: User | None, participant_id: int) -> InteractionParticipant:
    """A participant leaves the call: themself, the call's agent, a supervisor or an admin
    may make them. A conferenced agent gets their slot back and takes waiting work after
    commit; the call goes on. Locks: the agents (the call's, the conferenced ones) in
    primary-key order, then the interaction (participants change only under its lock)."""
    interaction_id = (
        InteractionParticipant.objects.filter(pk=participant_id)
        .values_list("interaction_id", flat=True)
        .first()
    )
    if interaction_id is None:
        raise InvalidTarget(f"Participant #{participant_id} does not exist.")
    now = timezone.now()
    with transaction.atomic():
        held = _lock_agents_then_interaction(interaction_id)
        interaction = held.interaction
        participant = InteractionParticipant.objects.get(pk=participant_id)
        if not (
            _is_supervisor(actor)
            or _is_own(actor, held.agent)
            or (actor is not None and participant.user_id == actor.pk)
        ):
            raise NotAllowed("Only the participant, the call's agent or a supervisor removes a participant.")
        if participant.left_at is not None:
            raise InvalidTransition("This participant already left the call.")
        voice.gateway().participant_remove(interaction, participant)
        interaction.version += 1
        interaction.save(update_fields=["version"])
        _participant_close(held, participant, now, actor)
        events.interaction_changed(interaction)
    return participant
