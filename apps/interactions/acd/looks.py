"""The two looks (an interaction looking for an agent, an agent looking for work), the new
arrival's shortcut, and the retry of contended looks (the rules in apps.interactions.acd)."""

from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from apps.interactions.acd import sql as routing_sql
from apps.interactions.acd.candidates import (
    eligible_agent_claim,
    eligible_agent_exists,
    waiting_exists,
    waiting_lock,
)
from apps.interactions.acd.fast_path import claim_and_insert
from apps.interactions.acd.offers import offer_announce, offer_write, slot_take
from apps.interactions.models import (
    AgentProfile,
    Interaction,
    InteractionEvent,
    InteractionStatus,
    Queue,
)

logger = logging.getLogger(__name__)


# A look that keeps meeting locked rows gives up after this many tries (a lock is held for
# milliseconds, so reaching it means something is badly wrong); the pause grows to MAX_PAUSE.
MAX_TRIES = 200

MAX_PAUSE = 0.05


class Outcome(enum.Enum):
    MATCHED = "matched"  # something was offered
    NOTHING = "nothing"  # no match exists right now
    CONTENDED = "contended"  # a match exists but is locked by another transaction: look again


@dataclass
class LookResult:
    outcome: Outcome
    offered: list[int] = field(default_factory=list)


def interaction_look(interaction_id: int) -> LookResult:
    """One attempt to offer a queued interaction to the best eligible agent."""
    with transaction.atomic():
        # The queue comes in the same read; only the interaction's row is locked.
        interaction = (
            Interaction.objects.select_related("queue")
            .select_for_update(skip_locked=True, of=("self",))
            .filter(pk=interaction_id)
            .first()
        )
        if interaction is None:
            still_queued = Interaction.objects.filter(
                pk=interaction_id, status=InteractionStatus.QUEUED
            ).exists()
            return LookResult(Outcome.CONTENDED if still_queued else Outcome.NOTHING)
        if interaction.status != InteractionStatus.QUEUED or interaction.queue_id is None:
            return LookResult(Outcome.NOTHING)
        queue = interaction.queue
        assert queue is not None
        if not queue.is_active:
            return LookResult(Outcome.NOTHING)
        now = timezone.now()
        agent, claimed = eligible_agent_claim(interaction, queue, now)
        if agent is None:
            return LookResult(
                Outcome.CONTENDED if eligible_agent_exists(interaction, queue) else Outcome.NOTHING
            )
        # The candidate query read its snapshot before the lock. PostgreSQL rechecks the agent
        # row's own columns (presence, real-time load) against its newest version when it locks
        # it, but not the subqueries: the load of the channel may have changed in between, and
        # loads only change under this lock, so a fresh read of that one row is the truth.
        # (Refusals of this interaction need its lock, which this look holds.)
        if not claimed:
            return LookResult(Outcome.CONTENDED)
        offer_write(interaction, agent, queue, now)
        return LookResult(Outcome.MATCHED, [interaction.pk])


def agent_look(agent_id: int) -> LookResult:
    """One attempt to fill the agent's free capacity with the best waiting interactions."""
    offered: list[int] = []
    with transaction.atomic():
        agent = AgentProfile.objects.select_for_update().filter(pk=agent_id).first()
        if agent is None:
            return LookResult(Outcome.NOTHING)
        while True:
            interaction = waiting_lock(agent)
            if interaction is None:
                if waiting_exists(agent):
                    return LookResult(Outcome.CONTENDED, offered)
                return LookResult(Outcome.MATCHED if offered else Outcome.NOTHING, offered)
            queue = interaction.queue
            assert queue is not None  # waiting_for only returns queued interactions of queues
            now = timezone.now()
            if not slot_take(agent, interaction.channel, now):
                # Cannot happen: the agent's row is locked, so the free slot waiting_for read is
                # still free. Were it to, the look runs again rather than offer without a slot.
                return LookResult(Outcome.CONTENDED, offered)
            offer_write(interaction, agent, queue, now)
            offered.append(interaction.pk)


def offers_in_one_statement() -> bool:
    """Whether offer_new writes a whole offer in one statement (PostgreSQL), so that it needs
    no transaction around it."""
    return routing_sql.raw_sql_enabled()


def offer_new(interaction: Interaction, queue: Queue, opening: InteractionEvent) -> Interaction | None:
    """Offer an interaction that is not saved yet (status queued; in the caller's transaction,
    or in none when offers_in_one_statement()) to the best eligible agent now, if one is free
    and not locked (rule 2's shortcut). When it is, the interaction is inserted already offered
    (or active on an auto-accept queue) with `opening`, its queued event, and the saved
    interaction returned (on PostgreSQL a new instance, as a query would return it; use it, not
    the one passed in). When not, nothing is written, None is returned, and the caller must
    insert it queued and schedule the look after commit (after_commit(interaction_look, pk))."""
    if not queue.is_active or interaction.status != InteractionStatus.QUEUED:
        return None
    now = timezone.now()
    if routing_sql.raw_sql_enabled():
        offered = claim_and_insert(interaction, queue, opening, now)
        if offered is None:
            return None
        saved, claimed_agent, state_changed = offered
        offer_announce(saved, claimed_agent, queue, now, state_changed=state_changed)
        return saved
    agent, claimed = eligible_agent_claim(interaction, queue, now)
    if agent is None or not claimed:
        return None
    offer_write(interaction, agent, queue, now, opening=opening)
    return interaction


Look = Callable[[int], LookResult]


def settle(look: Look, pk: int) -> LookResult:
    """Run a look until it is not CONTENDED (rule 3). Must run outside any transaction: a retry
    inside one would keep reading the same locks."""
    pause = 0.001
    result = look(pk)
    tries = 1
    while result.outcome is Outcome.CONTENDED and tries < MAX_TRIES:
        time.sleep(random.uniform(0, pause))  # noqa: S311 - jitter, not security
        pause = min(pause * 2, MAX_PAUSE)
        result = look(pk)
        tries += 1
    if result.outcome is Outcome.CONTENDED:
        logger.error("%s(%s) still contended after %s tries", look.__name__, pk, tries)
    return result


def after_commit(look: Look, pk: int) -> None:
    """Schedule a settled look once the current transaction commits (rule 2); at once when
    there is none."""
    transaction.on_commit(lambda: settle(look, pk))
