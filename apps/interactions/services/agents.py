"""Agents: their profile, presence (available, not ready, offline), heartbeats and the presence timeout."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.accounts.models import User
from apps.core.actors import Actor, SystemActor
from apps.core.exceptions import NotAllowed
from apps.interactions import acd, events
from apps.interactions.exceptions import (
    AgentUnavailable,
    InvalidTransition,
)
from apps.interactions.models import (
    AgentCapacity,
    AgentProfile,
    Channel,
    Interaction,
    InteractionStatus,
    NotReadyReason,
    Presence,
)
from apps.interactions.services.locking import lock_agent_then_interaction
from apps.interactions.services.policy import is_own, is_supervision
from apps.interactions.services.transitions import back_to_queue

# The desk sends a heartbeat every 4 s while the agent may be offered work (25 s otherwise, see
# static/js/desk.js); Chrome may slow a hidden tab's timers to one a minute, so only three
# silent minutes mean the agent is gone.
PRESENCE_TIMEOUT = dt.timedelta(minutes=3)
PRESENCE_TIMER = SystemActor("presence timeout")
# A heartbeat writes last_seen_at at most this often: a fast heartbeat must not lock and
# rewrite the agent row routing claims (with SKIP LOCKED) every few seconds, and the presence
# timeout is minutes.
SEEN_WRITE_EVERY = dt.timedelta(seconds=20)
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


def agent_profile_for(*, user: User) -> AgentProfile:
    """The user's agent profile, created with the default capacity on first use."""
    agent, created = AgentProfile.objects.get_or_create(user=user)
    if created:
        AgentCapacity.objects.bulk_create(
            [AgentCapacity(agent=agent, channel=c, capacity=n) for c, n in DEFAULT_CAPACITY.items()]
        )
    return agent


def agent_set_presence(
    *, actor: Actor, agent_id: int, presence: str, reason: NotReadyReason | None = None
) -> AgentProfile:
    """Agents change their own presence; supervisors, admins and the system (the presence
    timeout, signing out) anyone's. not_ready needs a reason; available makes the agent look for
    waiting work at once (after commit). Going offline hands back the offers still ringing for
    the agent (each goes to the next agent at once, the agent is not marked as not answering):
    an offline agent holds no offer. Locks: the agent, then each of its offers."""
    if presence not in Presence.values:
        raise InvalidTransition(f"{presence!r} is not a presence.")
    if presence == Presence.NOT_READY and reason is None:
        raise InvalidTransition("Choose a not-ready reason.")
    now = timezone.now()
    with transaction.atomic():
        agent = AgentProfile.objects.select_for_update().get(pk=agent_id)
        if not (is_supervision(actor) or is_own(actor, agent)):
            raise NotAllowed("Agents change only their own state.")
        became_available = presence == Presence.AVAILABLE and agent.presence != Presence.AVAILABLE
        agent.presence = presence
        agent.not_ready_reason = reason if presence == Presence.NOT_READY else None
        if became_available:
            agent.idle_since = now
        agent.last_seen_at = now
        if became_available:
            agent.unseen_offers = 0  # a fresh start: the agent is at the desk
        agent.save(
            update_fields=["presence", "not_ready_reason", "idle_since", "last_seen_at", "unseen_offers"]
        )
        if presence == Presence.OFFLINE:
            _offers_withdraw(agent, now, actor)
        acd.agent_refresh_state(agent, now)
        events.agent_changed(agent)
        if presence == Presence.AVAILABLE:
            acd.after_commit(acd.agent_look, agent.pk)
    return agent


def _offers_withdraw(agent: AgentProfile, now: dt.datetime, actor: Actor) -> None:
    """Every offer ringing for the (locked) agent goes back to its queue: recorded as
    offer_withdrawn, which routing does not count as a refusal, so the interaction may come back
    to this agent once they are available again."""
    offered = Interaction.objects.select_for_update().filter(agent=agent, status=InteractionStatus.OFFERED)
    for interaction in offered.order_by("pk"):
        back_to_queue(interaction, agent, "offer_withdrawn", now, actor)


def agent_seen(*, user_id: int, now: dt.datetime | None = None) -> None:
    """A heartbeat (websocket open or ping, a page load): the agent's browser is still there.
    Writes only when the last write is SEEN_WRITE_EVERY old (an UPDATE matching no row)."""
    now = now or timezone.now()
    AgentProfile.objects.filter(
        Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - SEEN_WRITE_EVERY), user_id=user_id
    ).update(last_seen_at=now)


def interaction_offer_seen(*, actor: Actor, interaction_id: int, version: int) -> bool:
    """The offered agent's page shows the offer `version` of the interaction: recorded as
    offer_seen_at, so that its timeout counts as the agent's no-answer (interaction_offer_expire)
    and the agent's count of unseen offers starts again. Only the offered agent's own page
    acknowledges (NotAllowed for anyone else). Idempotent, and a stale acknowledgement (the
    offer moved on, or was answered) changes nothing. Returns whether it recorded something.
    Locks: the agent, then the interaction."""
    if not isinstance(actor, User):
        raise NotAllowed("Only the offered agent's desk acknowledges an offer.")
    now = timezone.now()
    with transaction.atomic():
        agent, interaction = lock_agent_then_interaction(interaction_id)
        if interaction.status != InteractionStatus.OFFERED or interaction.version != version:
            return False  # the page showed an offer that has moved on: nothing to record
        if agent is None or not is_own(actor, agent):
            raise NotAllowed("This offer is not yours.")
        if offer_was_seen(interaction):
            return False
        interaction.offer_seen_at = now
        interaction.save(update_fields=["offer_seen_at"])
        if agent.unseen_offers:
            agent.unseen_offers = 0
            agent.save(update_fields=["unseen_offers"])
    return True


def offer_was_seen(interaction: Interaction) -> bool:
    """The agent's page acknowledged the interaction's current offer (an acknowledgement from
    before offered_at was of an earlier offer)."""
    seen, offered = interaction.offer_seen_at, interaction.offered_at
    return seen is not None and offered is not None and seen >= offered


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
        agent_set_presence(actor=PRESENCE_TIMER, agent_id=agent_id, presence=Presence.OFFLINE)
        count += 1
    return count


def check_available(agent: AgentProfile, channel: str) -> None:
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
