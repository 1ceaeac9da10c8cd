"""Agents: their profile, presence (available, not ready, offline), heartbeats and the presence timeout."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F
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
    NotReadyReason,
    Presence,
)
from apps.interactions.services.policy import is_own, is_supervision

# An agent's browser sends a heartbeat every 20 s; Chrome may slow a hidden tab's timers to one
# a minute, so only three silent minutes mean the agent is gone.
PRESENCE_TIMEOUT = dt.timedelta(minutes=3)
PRESENCE_TIMER = SystemActor("presence timeout")
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
    waiting work at once (after commit)."""
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
