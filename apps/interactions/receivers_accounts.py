"""Receivers of the accounts app's signals (connected in InteractionsConfig.ready)."""

from __future__ import annotations

from typing import Any

from apps.core.actors import SystemActor
from apps.interactions.models import AgentProfile, Presence

SIGN_OUT = SystemActor("sign-out")


def agent_offline_on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Signing out is the one thing besides a presence timeout that takes an agent offline: a
    closed or hidden tab is not (see services.agents_presence_timeout). Offers still ringing go
    back to their queue (the agent is no longer there to answer them); accepted work stays with
    the agent."""
    if user is None:
        return
    from apps.interactions.services import agent_set_presence

    agent_id = (
        AgentProfile.objects.filter(user_id=user.pk)
        .exclude(presence=Presence.OFFLINE)
        .values_list("pk", flat=True)
        .first()
    )
    if agent_id is not None:
        agent_set_presence(actor=SIGN_OUT, agent_id=agent_id, presence=Presence.OFFLINE)
