"""The contact center's demo set-up, shared by `seed_contact_center` (which `seed_demo` runs) and
`simulate_traffic`: skills, queues with a disposition set each, not-ready reasons, the demo
agents' profiles and the simulated agents "sim-agent-NN".

Idempotent: rows are found by their natural key (code, name, username) and only created when
missing, so a queue or a skill level changed in the admin stays as changed. A set-up, not a use
case: like the admin, it writes catalog rows directly; agents' profiles come from the services.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import transaction

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.accounts.services import user_create
from apps.interactions.models import (
    AgentProfile,
    AgentSkill,
    Disposition,
    DispositionCategory,
    DispositionSet,
    NotReadyReason,
    Queue,
    QueueSkill,
    Skill,
)
from apps.interactions.services import agent_profile_for

SKILLS = {
    "support": "Product questions and troubleshooting",
    "sales": "Plans, quotes and upgrades",
    "billing": "Invoices, payments and refunds",
}


@dataclass(frozen=True)
class DispositionSpec:
    code: str
    label: str
    category: str
    is_final: bool = True
    is_success: bool = False
    marks_dnc: bool = False
    needs_callback_time: bool = False


DISPOSITIONS = (
    DispositionSpec("resolved", "Resolved", DispositionCategory.RESOLVED, is_success=True),
    DispositionSpec("info-given", "Information given", DispositionCategory.CONTACT_MADE),
    DispositionSpec("escalated", "Escalated", DispositionCategory.OTHER, is_final=False),
    DispositionSpec("sale", "Sale", DispositionCategory.SALE, is_success=True),
    DispositionSpec("no-sale", "No sale", DispositionCategory.CONTACT_MADE),
    DispositionSpec(
        "callback",
        "Callback requested",
        DispositionCategory.CALLBACK,
        is_final=False,
        needs_callback_time=True,
    ),
    DispositionSpec("do-not-call", "Do not call", DispositionCategory.DO_NOT_CALL, marks_dnc=True),
)
DISPOSITION_SETS = {
    "Support": ("resolved", "info-given", "escalated", "callback", "do-not-call"),
    "Sales": ("sale", "no-sale", "info-given", "callback", "do-not-call"),
    "Billing": ("resolved", "info-given", "escalated", "callback"),
}


@dataclass(frozen=True)
class QueueSpec:
    name: str
    channels: tuple[str, ...]
    skill: str
    disposition_set: str
    priority: int = 0


QUEUES = (
    QueueSpec("Support", ("voice", "chat", "email"), "support", "Support"),
    QueueSpec("Sales", ("voice", "chat"), "sales", "Sales", priority=1),
    QueueSpec("Billing", ("email", "sms"), "billing", "Billing"),
)
NOT_READY_REASONS = (("break", "Break"), ("lunch", "Lunch"), ("training", "Training"), ("meeting", "Meeting"))
# The people of seed_demo who take work in the desk: every queue, every skill.
HUMAN_AGENTS = ("agent", "agent2")
HUMAN_SKILL_LEVEL = 3
SIM_AGENT_PREFIX = "sim-agent-"
SIM_AGENT_COUNT = 6
# Simulated agent n takes the skills of plan n % 3: every queue has agents, none has all of them.
SIM_SKILL_PLANS = (("support", "sales"), ("support", "billing"), ("sales", "billing"))
SIM_SKILL_LEVEL = 2


def sim_agent_username(number: int) -> str:
    return f"{SIM_AGENT_PREFIX}{number:02d}"


@transaction.atomic
def contact_center_seed(*, sim_agents: int = SIM_AGENT_COUNT) -> dict[str, int]:
    """Create what is missing of the demo contact center; returns how many rows of each kind it
    created (all zero on a second run)."""
    created = {"skills": 0, "dispositions": 0, "queues": 0, "reasons": 0, "agents": 0}
    skills = {}
    for name, description in SKILLS.items():
        skills[name], new = Skill.objects.get_or_create(name=name, defaults={"description": description})
        created["skills"] += new
    dispositions = {}
    for spec in DISPOSITIONS:
        dispositions[spec.code], new = Disposition.objects.get_or_create(
            code=spec.code,
            defaults={
                "label": spec.label,
                "category": spec.category,
                "is_final": spec.is_final,
                "is_success": spec.is_success,
                "marks_dnc": spec.marks_dnc,
                "needs_callback_time": spec.needs_callback_time,
            },
        )
        created["dispositions"] += new
    sets = {}
    for name, codes in DISPOSITION_SETS.items():
        sets[name], new = DispositionSet.objects.get_or_create(name=name)
        if new:
            sets[name].dispositions.set([dispositions[code] for code in codes])
    for queue_spec in QUEUES:
        queue, new = Queue.objects.get_or_create(
            name=queue_spec.name,
            defaults={
                "channels": list(queue_spec.channels),
                "priority": queue_spec.priority,
                "disposition_set": sets[queue_spec.disposition_set],
            },
        )
        if new:
            QueueSkill.objects.create(queue=queue, skill=skills[queue_spec.skill], min_level=1)
        created["queues"] += new
    for code, label in NOT_READY_REASONS:
        created["reasons"] += NotReadyReason.objects.get_or_create(code=code, defaults={"label": label})[1]
    for username in HUMAN_AGENTS:
        user = User.objects.filter(username=username).first()
        if user is not None:
            created["agents"] += _agent_ensure(user, tuple(SKILLS), HUMAN_SKILL_LEVEL)
    created["agents"] += len(sim_agents_ensure(count=sim_agents, created_only=True))
    return created


def sim_agents_ensure(*, count: int, created_only: bool = False) -> list[AgentProfile]:
    """The simulated agents sim-agent-01..count, created when missing (Agent role, a password
    nobody knows: they are driven by simulate_traffic, never signed in)."""
    agents, made = [], []
    for number in range(1, count + 1):
        username = sim_agent_username(number)
        user = User.objects.filter(username=username).first()
        if user is None:
            user = user_create(
                username=username,
                password=secrets.token_urlsafe(24),
                roles=[Role.AGENT],
                first_name="Sim",
                last_name=f"Agent {number:02d}",
                email=f"{username}@switchboard.example",
            )
        plan = SIM_SKILL_PLANS[(number - 1) % len(SIM_SKILL_PLANS)]
        if _agent_ensure(user, plan, SIM_SKILL_LEVEL):
            made.append(user.agent)
        agents.append(user.agent)
    return made if created_only else agents


def _agent_ensure(user: User, skill_names: tuple[str, ...], level: int) -> bool:
    """Give the user an agent profile in the demo queues their skills serve; True if created."""
    new = not AgentProfile.objects.filter(user=user).exists()
    agent = agent_profile_for(user=user)
    if new:
        for skill in Skill.objects.filter(name__in=skill_names):
            AgentSkill.objects.get_or_create(agent=agent, skill=skill, defaults={"level": level})
        agent.queues.add(*Queue.objects.filter(required_skills__skill__name__in=skill_names).distinct())
    return new
