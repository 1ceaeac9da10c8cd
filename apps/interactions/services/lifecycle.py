"""An interaction's life: arrival (enqueue, business hours), accept, reject, end, wrap-up,
abandon, messages and notes."""

from __future__ import annotations

import datetime as dt
from contextlib import suppress
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.core.actors import Actor, is_system, require_actor
from apps.core.exceptions import NotAllowed
from apps.customers.exceptions import InvalidContact
from apps.customers.models import ContactPoint, ContactPointKind, Customer
from apps.customers.normalize import normalize_phone
from apps.customers.selectors import find_customer
from apps.interactions import acd, events
from apps.interactions.exceptions import (
    ChannelNotServed,
    DispositionRequired,
    InvalidTarget,
    InvalidTransition,
    QueueFull,
)
from apps.interactions.models import (
    QUEUED_AFTER_HOURS,
    TEXT_CHANNELS,
    Channel,
    Direction,
    Disposition,
    Interaction,
    InteractionEvent,
    InteractionStatus,
    Message,
    Queue,
)
from apps.interactions.services.calls import CALL_STATE_FIELDS, call_over
from apps.interactions.services.locking import lock_agent_then_interaction, lock_agents_then_interaction
from apps.interactions.services.outbound import outbound_consent_check
from apps.interactions.services.policy import actor_id, check_own, is_supervision
from apps.interactions.services.transitions import agent_freed, back_to_queue, expect, transition

_CHANNELS = frozenset(Channel.values)  # Channel.values builds its list on every read
_DIRECTIONS = frozenset(Direction.values)


def interaction_enqueue(
    *,
    queue: Queue,
    channel: str,
    customer: Customer | None = None,
    contact: str = "",
    direction: str = Direction.INBOUND,
    priority: int = 0,
    subject: str = "",
    actor: Actor,
) -> Interaction:
    """A new interaction waits in the queue and is offered at once when an eligible agent is
    free: in this transaction when one can be locked without waiting, else by the look after
    commit. The customer is found by contact when not given; an erased customer is never
    linked (given or found), the interaction is anonymous.

    Outbound (direction "outbound"): refused with ContactRefused when the contact's consent
    forbids it (services.outbound.outbound_consent_check: do-not-call for calls and texts, email
    opt-out), and never turned away by business hours.

    Business hours (inbound): when the queue is closed (Queue.is_open), an email still queues there; a
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
    require_actor(actor)
    if channel not in _CHANNELS:
        raise ChannelNotServed(f"{channel!r} is not a channel.")
    if channel not in (queue.channels or []):
        raise ChannelNotServed(f"Queue {queue.name} does not serve {channel}.")
    if direction not in _DIRECTIONS:
        raise InvalidTarget(f"{direction!r} is not a direction (inbound or outbound).")
    now = timezone.now()
    outbound = direction == Direction.OUTBOUND
    # An outbound contact is the center's own doing: it never waits for opening hours.
    destination = queue if outbound else _destination_at(queue, channel, now)
    if customer is not None and customer.is_erased:
        # The person's data was erased: their new contact is kept anonymously, never linked
        # back to the erased row (find_customer cannot find them: their contact points are gone).
        customer = None
    elif customer is None and contact:
        customer = find_customer(contact)
    if outbound:
        outbound_consent_check(channel=channel, contact=contact, customer=customer)
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
        offered = acd.offer_new(interaction, destination, opening)
        if offered is not None:
            return offered
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
        offered = None if tried else acd.offer_new(interaction, locked, opening)
        if offered is not None:
            return offered
        interaction.save(force_insert=True)
        opening.save(force_insert=True)
        events.interaction_changed(interaction)
        acd.after_commit(acd.interaction_look, interaction.pk)
    return interaction


def _arrival(
    queue: Queue, destination: Queue, described: dict[str, Any], now: dt.datetime, actor: Actor
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
        actor_id=actor_id(actor),
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
    queue: Queue, described: dict[str, Any], now: dt.datetime, actor: Actor
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
        actor_id=actor_id(actor),
        data={"opens_at": opens_at.isoformat() if opens_at else None},
    )
    events.interaction_changed(interaction)
    return interaction


def interaction_accept(*, actor: Actor, interaction_id: int) -> Interaction:
    now = timezone.now()
    with transaction.atomic():
        agent, interaction = lock_agent_then_interaction(interaction_id)
        check_own(actor, agent)
        before = transition(interaction, (InteractionStatus.OFFERED,), InteractionStatus.ACTIVE)
        # The customer's first answer: a transferred interaction keeps it, so speed of answer
        # and service level count the customer's wait once (the event rows have every answer).
        interaction.accepted_at = interaction.accepted_at or now
        interaction.offer_expires_at = None
        interaction.save(update_fields=["status", "version", "accepted_at", "offer_expires_at"])
        acd.event_add(interaction, kind="accepted", from_status=before, at=now, actor_id=actor_id(actor))
        assert agent is not None
        acd.agent_refresh_state(agent, now)
        events.interaction_changed(interaction)
        events.agent_changed(agent)
    return interaction


def interaction_reject(*, actor: Actor, interaction_id: int) -> Interaction:
    """The agent declines an offer: it goes to the next agent; this agent is not offered it
    again and stays available for other work."""
    now = timezone.now()
    with transaction.atomic():
        agent, interaction = lock_agent_then_interaction(interaction_id)
        check_own(actor, agent)
        if agent is None:
            raise InvalidTransition(f"Interaction #{interaction_id} is not offered to anyone.")
        back_to_queue(interaction, agent, "rejected", now, actor)
        acd.agent_refresh_state(agent, now)
        events.agent_changed(agent)
        acd.after_commit(acd.agent_look, agent.pk)
    return interaction


def interaction_end(*, actor: Actor, interaction_id: int) -> Interaction:
    """The conversation is over (agent hung up or closed the chat): wrap-up starts, with the
    queue's timer. The slot stays held until the wrap-up is done. A voice or video call is hung
    up through the voice gateway (a connector reporting the customer's hang-up calls this too:
    gateways treat a second hang-up as done), its participants leave (conferenced agents get
    their slot back) and a running hold is closed. Locks: the agents (its own and the
    conferenced ones), then the interaction."""
    now = timezone.now()
    with transaction.atomic():
        held = lock_agents_then_interaction(interaction_id)
        agent, interaction = held.agent, held.interaction
        check_own(actor, agent)
        expect(interaction, (InteractionStatus.ACTIVE,))
        call_over(held, now, actor, hang_up=True)
        before = transition(interaction, (InteractionStatus.ACTIVE,), InteractionStatus.WRAP_UP)
        queue = Queue.objects.get(pk=interaction.queue_id) if interaction.queue_id else None
        interaction.wrap_up_at = now
        seconds = queue.wrap_up_seconds if queue is not None else 0
        interaction.wrap_up_expires_at = now + dt.timedelta(seconds=seconds)
        interaction.save(
            update_fields=["status", "version", "wrap_up_at", "wrap_up_expires_at", *CALL_STATE_FIELDS]
        )
        acd.event_add(interaction, kind="ended", from_status=before, at=now, actor_id=actor_id(actor))
        if agent is not None:
            acd.agent_refresh_state(agent, now)
            events.agent_changed(agent)
        events.interaction_changed(interaction)
    return interaction


def interaction_wrap_up(
    *,
    actor: Actor,
    interaction_id: int,
    disposition: Disposition | None,
    notes: str = "",
    callback_at: dt.datetime | None = None,
    callback_personal: bool = False,
) -> Interaction:
    """Close the interaction with its disposition (required when the queue says so; a DNC
    disposition sets do-not-call on the contact point). A callback time is kept with it, for
    the agent who wraps up when callback_personal (else for any agent of the queue or campaign).
    The agent's slot is free again and the agent takes the next waiting interaction at once."""
    now = timezone.now()
    with transaction.atomic():
        held = lock_agents_then_interaction(interaction_id)
        agent, interaction = held.agent, held.interaction
        check_own(actor, agent)
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
        expect(interaction, (InteractionStatus.ACTIVE, InteractionStatus.WRAP_UP))
        if interaction.status == InteractionStatus.ACTIVE:
            call_over(held, now, actor, hang_up=True)
        before = transition(
            interaction,
            (InteractionStatus.ACTIVE, InteractionStatus.WRAP_UP),
            InteractionStatus.CLOSED,
        )
        interaction.disposition = disposition
        interaction.callback_at = callback_at
        interaction.callback_personal = bool(callback_personal and callback_at is not None)
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
                "callback_personal",
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
            actor_id=actor_id(actor),
            data={"disposition": disposition.code if disposition else ""},
        )
        if disposition is not None and disposition.marks_dnc:
            _mark_dnc(interaction, now)
        if agent is not None:
            agent_freed(agent, interaction, now)
        events.interaction_changed(interaction)
    return interaction


def interaction_abandon(*, actor: Actor, interaction_id: int) -> Interaction:
    """The customer left (hung up, closed the chat) before an agent took it. Reported by the
    system (a connector, the simulator: a SystemActor) or recorded by a supervisor or admin;
    an agent cannot abandon a customer. Locks: its agent (when offered), then it."""
    if not is_supervision(actor):
        raise NotAllowed("Only supervisors and admins record that a customer left.")
    now = timezone.now()
    with transaction.atomic():
        agent, interaction = lock_agent_then_interaction(interaction_id)
        before = transition(
            interaction,
            (InteractionStatus.QUEUED, InteractionStatus.OFFERED),
            InteractionStatus.ABANDONED,
        )
        interaction.abandoned_at = now
        interaction.offer_expires_at = None
        interaction.save(update_fields=["status", "version", "abandoned_at", "offer_expires_at"])
        acd.event_add(interaction, kind="abandoned", from_status=before, at=now, actor_id=actor_id(actor))
        if agent is not None:
            agent_freed(agent, interaction, now)
        events.interaction_changed(interaction)
    return interaction


def message_add(
    *,
    actor: Actor,
    interaction_id: int,
    body: str,
    direction: str = Direction.OUTBOUND,
    sender: str = "",
    attachments: list[dict[str, object]] | None = None,
    provider: str = "",
    provider_id: str | None = None,
) -> Message:
    """A message on a text interaction. Agents reply on their own active interactions
    (supervisors and admins on any active one); a connector (a SystemActor) adds the customer's
    messages to any interaction not finished yet, stored once per (provider, provider_id), so a
    redelivered webhook returns the message it already stored."""
    if not body.strip() and not attachments:
        raise InvalidTransition("A message needs a text or an attachment.")
    now = timezone.now()
    with transaction.atomic():
        if provider_id:
            existing = Message.objects.filter(provider=provider, provider_id=provider_id).first()
            if existing is not None:
                return existing
        agent, interaction = lock_agent_then_interaction(interaction_id)
        if interaction.channel not in TEXT_CHANNELS:
            raise ChannelNotServed(f"{interaction.get_channel_display()} interactions have no messages.")
        person = actor if isinstance(actor, User) else None
        if is_system(actor):
            if interaction.is_finished:
                raise InvalidTransition(f"Interaction #{interaction.pk} is {interaction.status}.")
        else:
            check_own(actor, agent)
            if interaction.status != InteractionStatus.ACTIVE:
                raise InvalidTransition(
                    f"Interaction #{interaction.pk} is {interaction.status}: accept it first."
                )
        message = Message.objects.create(
            interaction=interaction,
            direction=direction,
            sender=sender or (person.get_full_name() or person.username if person is not None else ""),
            author=person,
            body=body,
            attachments=attachments or [],
            provider=provider,
            provider_id=provider_id or None,
        )
        interaction.version += 1
        interaction.save(update_fields=["version"])
        events.message_added(message, interaction, now)
    return message


def interaction_note_set(*, actor: Actor, interaction_id: int, notes: str) -> Interaction:
    """Replace the interaction's notes while it is active or in wrap-up: its agent, or a
    supervisor or admin. Publishes the change (new version). Locks: its agent, then it."""
    with transaction.atomic():
        agent, interaction = lock_agent_then_interaction(interaction_id)
        check_own(actor, agent)
        expect(interaction, (InteractionStatus.ACTIVE, InteractionStatus.WRAP_UP))
        interaction.notes = notes
        interaction.version += 1
        interaction.save(update_fields=["notes", "version"])
        events.interaction_changed(interaction)
    return interaction


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
