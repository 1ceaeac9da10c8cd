from __future__ import annotations

from typing import Any

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.accounts.services import user_create
from apps.core.actors import SYSTEM
from apps.interactions import services
from apps.interactions.models import AgentCapacity, AgentProfile, AgentSkill, Presence, Queue, Skill

_counter = {"n": 0}


def make_queue(name: str = "", **fields: Any) -> Queue:
    _counter["n"] += 1
    fields.setdefault("channels", ["voice", "chat", "email"])
    return Queue.objects.create(name=name or f"Queue {_counter['n']}", **fields)


def make_agent(
    *queues: Queue,
    username: str = "",
    available: bool = True,
    capacity: dict[str, int] | None = None,
    skills: dict[Skill, int] | None = None,
) -> AgentProfile:
    _counter["n"] += 1
    user: User = user_create(
        username=username or f"agent{_counter['n']}", password="pw-for-tests-1", roles=[Role.AGENT]
    )
    agent = services.agent_profile_for(user=user)
    agent.queues.set(queues)
    for channel, size in (capacity or {}).items():
        AgentCapacity.objects.update_or_create(agent=agent, channel=channel, defaults={"capacity": size})
    for skill, level in (skills or {}).items():
        AgentSkill.objects.create(agent=agent, skill=skill, level=level)
    if available:
        services.agent_set_presence(actor=SYSTEM, agent_id=agent.pk, presence=Presence.AVAILABLE)
    agent.refresh_from_db()
    return agent
