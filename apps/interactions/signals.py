"""Signals the interactions app sends so higher apps (campaigns, surveys, reports, assist) can
follow an interaction's life without interactions importing them.

Every one is sent by `Signal.send_robust` once the transaction that made the change commits
(`transaction.on_commit`; at once when there is none, as on PostgreSQL's one-statement offer),
never on a rollback, exactly once per state change, with `sender=Interaction`. A receiver that
raises is logged and neither undoes the change nor stops the other receivers: receivers are
after-the-fact listeners, so one that writes opens its own transaction (and one that is slow
hands its work to a Celery task with the ids it got).

The kwargs every signal carries:
    interaction_id  the interaction's id
    status          its status after the change (an InteractionStatus value)
    version         its version after the change (what the real-time events carry)
    agent_id        the AgentProfile id the change concerns (the agent offered to, accepting,
                    ending...), or None
    queue_id        its queue's id, or None
    actor           who made the change: the User the event row records, else a SystemActor
                    (ROUTING for offers and auto-accepts, SYSTEM for the product's timers,
                    connectors and commands: the event rows do not name them)

One place decides what a change is: `event_announce`, from the event row every state change
writes (apps.interactions.acd.event_add and the offers' rows), by the status it moves to.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.dispatch import Signal

from apps.core.actors import SYSTEM, Actor, SystemActor
from apps.interactions.models import PLACING_STATUSES, Interaction, InteractionEvent, InteractionStatus

logger = logging.getLogger(__name__)

ROUTING = SystemActor("routing")
"""The actor of an offer and of an auto-accept: routing made them, not a person."""

interaction_created = Signal()
"""A new interaction exists (inbound arrival queued or offered at once, missed after hours,
outbound call being dialed). `status` is the status it was created in (queued, missed,
dialing): an arrival offered at once then sends interaction_offered too."""

interaction_offered = Signal()
"""The interaction is offered to agent `agent_id` (routing, or a direct transfer)."""

interaction_accepted = Signal()
"""Agent `agent_id` took the interaction: accepted an offer, an auto-accept queue's offer, or
an outbound call of theirs was answered. `status` is active."""

interaction_ended = Signal()
"""The conversation is over and wrap-up starts (`status` wrap_up); the agent keeps the slot
until interaction_wrapped_up."""

interaction_wrapped_up = Signal()
"""The interaction is closed: its agent's wrap-up, the wrap-up timer, or an outbound call that
ended unanswered (busy, no answer, machine, failed). Also carries `disposition_id`: the
Disposition chosen (or the call outcome's), or None when closed without one."""

interaction_abandoned = Signal()
"""The customer left before an agent took the interaction (queued or offered). `agent_id` is
the agent it was offered to, if it was."""

ALL = (
    interaction_created,
    interaction_offered,
    interaction_accepted,
    interaction_ended,
    interaction_wrapped_up,
    interaction_abandoned,
)


def event_signal(row: InteractionEvent) -> Signal | None:
    """The signal an event row stands for, or None (a row that changes no status: hold, a
    participant, the gateway's commands; or a move with no signal: back to the queue)."""
    if not row.from_status:
        return interaction_created
    if row.from_status == row.to_status:
        return None
    if row.to_status == InteractionStatus.OFFERED:
        return interaction_offered
    if row.to_status == InteractionStatus.ACTIVE and (
        row.from_status == InteractionStatus.OFFERED or row.from_status in PLACING_STATUSES
    ):
        return interaction_accepted
    if row.to_status == InteractionStatus.WRAP_UP:
        return interaction_ended
    if row.to_status == InteractionStatus.CLOSED:
        return interaction_wrapped_up
    if row.to_status == InteractionStatus.ABANDONED:
        return interaction_abandoned
    return None


def event_announce(
    row: InteractionEvent, *, interaction: Interaction, version: int, actor: Actor | None = None
) -> None:
    """Send the row's signal (if any) after commit. `interaction`: the row's interaction as the
    change left it (its disposition); `version`: its version right after this row's change;
    `actor`: who acted, when the caller knows better than the row (None: the row's user, looked
    up after commit, else SYSTEM). Nothing is scheduled when the signal has no receivers."""
    signal = event_signal(row)
    # Nobody listening (no higher app installed): routing's hot path pays for no callback.
    if signal is None or not signal.has_listeners(sender=Interaction):
        return
    kwargs: dict[str, Any] = {
        "interaction_id": row.interaction_id,
        "status": row.to_status,
        "version": version,
        "agent_id": row.agent_id,
        "queue_id": row.queue_id,
    }
    if signal is interaction_wrapped_up:
        kwargs["disposition_id"] = interaction.disposition_id
    actor_id = row.actor_id

    def send() -> None:
        try:
            kwargs["actor"] = actor if actor is not None else _actor_of(actor_id)
        except Exception:  # a lookup failure loses the announcement, never the commit's others
            logger.exception("resolving the actor of interaction #%s's signal", kwargs["interaction_id"])
            return
        for receiver, outcome in signal.send_robust(sender=Interaction, **kwargs):
            if isinstance(outcome, Exception):
                logger.error(
                    "receiver %r of an interaction signal failed for interaction #%s",
                    receiver,
                    kwargs["interaction_id"],
                    exc_info=outcome,
                )

    transaction.on_commit(send)


def events_announce(
    rows: Sequence[InteractionEvent], *, interaction: Interaction, actor: Actor | None = None
) -> None:
    """event_announce for rows written together (an offer's, bulk-created), in order: the last
    one leaves the interaction at its current version, each before it one version earlier.
    `actor` applies to the rows that record none (an opening row keeps its own)."""
    last = len(rows) - 1
    for n, row in enumerate(rows):
        row_actor = None if row.actor_id is not None or not row.from_status else actor
        event_announce(
            row, interaction=interaction, version=interaction.version - (last - n), actor=row_actor
        )


def event_saved(
    sender: Any, instance: InteractionEvent, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    """post_save of InteractionEvent: a row saved one by one (acd.event_add, an arrival's opening
    row) is announced; bulk-created rows (offers) are announced by their writer."""
    if not created or raw or event_signal(instance) is None:
        return
    interaction = instance.interaction
    event_announce(instance, interaction=interaction, version=interaction.version)


def _actor_of(user_id: int | None) -> Actor:
    if user_id is None:
        return SYSTEM
    from apps.accounts.models import User

    user = User.objects.filter(pk=user_id).first()
    return user if user is not None else SYSTEM
