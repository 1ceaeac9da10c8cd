"""The routing policy as querysets: which agents may be offered an interaction, in the queue's
strategy order, and which waiting interactions an agent may take. These are the definition; the
PostgreSQL hot path (candidates, fast_path) runs the same filters written out as SQL, and
tests/interactions/test_routing_sql.py checks the two against each other."""

from __future__ import annotations

from django.db.models import Case, Exists, F, IntegerField, OuterRef, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce

from apps.interactions.models import (
    AgentCapacity,
    AgentProfile,
    AgentSkill,
    Interaction,
    InteractionEvent,
    InteractionStatus,
    Presence,
    Queue,
    QueueSkill,
    RoutingStrategy,
)


def eligible_agents(interaction: Interaction, queue: Queue) -> QuerySet[AgentProfile]:
    """Agents who may be offered the interaction now, in the queue's strategy order."""
    agents = AgentProfile.objects.filter(
        presence=Presence.AVAILABLE,
        queues=queue,
        real_time_load=0,
    ).filter(
        Exists(
            AgentCapacity.objects.filter(
                agent=OuterRef("pk"), channel=interaction.channel, load__lt=F("capacity")
            )
        )
    )
    # The queue's skill requirements are part of the one statement (no requirement the agent
    # misses), not read first: the look runs this query twice per offer.
    unmet = QueueSkill.objects.filter(queue=queue).exclude(
        Exists(
            AgentSkill.objects.filter(
                agent=OuterRef(OuterRef("pk")), skill=OuterRef("skill"), level__gte=OuterRef("min_level")
            )
        )
    )
    agents = agents.exclude(Exists(unmet))
    if interaction.pk is not None:  # a new interaction (offer_new) has been refused by nobody
        refused = InteractionEvent.objects.filter(
            interaction_id=interaction.pk, kind__in=("rejected", "offer_timeout"), agent=OuterRef("pk")
        )
        agents = agents.exclude(Exists(refused))
    return _ordered(agents, queue)


def _ordered(agents: QuerySet[AgentProfile], queue: Queue) -> QuerySet[AgentProfile]:
    idle = F("idle_since").asc(nulls_first=True)
    if queue.strategy == RoutingStrategy.ROUND_ROBIN:
        return agents.order_by(F("last_offer_at").asc(nulls_first=True), idle, "pk")
    if queue.strategy == RoutingStrategy.LEAST_OCCUPIED:
        return agents.order_by("total_load", idle, "pk")
    if queue.strategy == RoutingStrategy.MOST_SKILLED:
        # A scalar subquery, not a join with GROUP BY: FOR UPDATE refuses GROUP BY.
        required = QueueSkill.objects.filter(queue=queue).values("skill_id")
        score = (
            AgentSkill.objects.filter(agent=OuterRef("pk"), skill_id__in=required)
            .order_by()
            .values("agent")
            .annotate(total=Sum("level"))
            .values("total")
        )
        agents = agents.annotate(skill_score=Coalesce(Subquery(score, output_field=IntegerField()), 0))
        return agents.order_by("-skill_score", idle, "pk")
    # Longest idle: an agent holding no work at all before one who holds some, however long ago
    # the busy one last freed a slot (idle_since moves only on release); then the longest idle.
    holding = Case(When(total_load=0, then=Value(0)), default=Value(1), output_field=IntegerField())
    return agents.order_by(holding, idle, "pk")


def waiting_for(agent: AgentProfile) -> QuerySet[Interaction]:
    """Queued interactions the agent may take now, best first (queue priority plus the
    interaction's, then the oldest)."""
    if agent.presence != Presence.AVAILABLE or agent.real_time_load:
        return Interaction.objects.none()
    # One statement (free channels, active queues, skills as subqueries): the look runs it
    # after every offer it makes.
    channels = AgentCapacity.objects.filter(agent=agent, load__lt=F("capacity")).values("channel")
    queues = Queue.objects.filter(agents=agent, is_active=True).values("pk")
    unmet = QueueSkill.objects.filter(queue=OuterRef("queue_id")).exclude(
        Exists(
            AgentSkill.objects.filter(agent=agent, skill=OuterRef("skill"), level__gte=OuterRef("min_level"))
        )
    )
    refused = InteractionEvent.objects.filter(
        interaction=OuterRef("pk"), kind__in=("rejected", "offer_timeout"), agent=agent
    )
    return (
        Interaction.objects.filter(status=InteractionStatus.QUEUED, queue__in=queues, channel__in=channels)
        .exclude(Exists(unmet))
        .exclude(Exists(refused))
        .annotate(rank=F("priority") + F("queue__priority"))
        .order_by("-rank", "queued_at", "pk")
    )
