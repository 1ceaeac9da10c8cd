"""Reads the desktop, the wallboard, the API and the customer-facing side share."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, FilteredRelation, Min, Prefetch, Q, QuerySet
from django.utils import timezone

from apps.interactions.models import (
    HOLDING_STATUSES,
    PLACING_STATUSES,
    AgentProfile,
    AgentState,
    CallOutcome,
    Channel,
    Direction,
    Interaction,
    InteractionStatus,
    Presence,
    Queue,
)

# What an agent holds: offers, calls placed for them, active work, wrap-ups.
OPEN_WORK = HOLDING_STATUSES

# Without history yet, a wait estimate assumes this handle time.
DEFAULT_HANDLE_SECONDS = 180


@dataclass(frozen=True)
class QueueStats:
    queue_id: int
    name: str
    waiting: int
    longest_wait_seconds: int
    offered_today: int
    answered_today: int
    abandoned_today: int
    service_level_percent: float | None
    service_level_target: int
    service_level_seconds: int
    agents_available: int
    agents_busy: int
    # Outbound calls placed from the queue today (its own day), apart from the inbound figures.
    outbound_placed_today: int = 0
    outbound_connected_today: int = 0
    outbound_unanswered_today: int = 0  # busy, no answer, answering machine
    outbound_failed_today: int = 0
    outbound_in_progress: int = 0  # dialing or ringing now


def _start_of_day(queue: Queue, now: dt.datetime) -> dt.datetime:
    try:
        zone = zoneinfo.ZoneInfo(queue.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    local = now.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def queue_stats(*, now: dt.datetime | None = None, queues: QuerySet[Queue] | None = None) -> list[QueueStats]:
    """Per active queue: waiting now, longest wait, today's answered/abandoned and service
    level, agents available and busy. Service level = answered within the queue's threshold /
    (answered + abandoned after the threshold): a customer who hangs up within the threshold
    counts for nobody. These inbound figures count inbound interactions only; outbound calls
    placed from the queue today have their own (placed, connected, unanswered, failed, in
    progress), so a dialer never inflates the inbound service level. A fixed number of queries
    whatever the number of queues."""
    now = now or timezone.now()
    chosen = list((queues if queues is not None else Queue.objects.filter(is_active=True)).order_by("name"))
    if not chosen:
        return []
    ids = [q.pk for q in chosen]
    waiting: dict[int, dict[str, Any]] = {
        row["queue_id"]: dict(row)
        for row in Interaction.objects.filter(
            queue_id__in=ids, status=InteractionStatus.QUEUED, direction=Direction.INBOUND
        )
        .values("queue_id")
        .annotate(count=Count("pk"), oldest=Min("queued_at"))
        .order_by()
    }
    # Each queue's day starts at midnight in its own time zone, and its service level uses its
    # own threshold: one grouped query whose conditions name each queue.
    in_day = Q()
    in_sl = Q()
    late = Q()
    placed_in_day = Q()
    for queue in chosen:
        threshold = dt.timedelta(seconds=queue.service_level_seconds)
        in_day |= Q(queue_id=queue.pk, queued_at__gte=_start_of_day(queue, now))
        placed_in_day |= Q(queue_id=queue.pk, created_at__gte=_start_of_day(queue, now))
        in_sl |= Q(queue_id=queue.pk, accepted_at__lte=F("queued_at") + threshold)
        late |= Q(queue_id=queue.pk, abandoned_at__gt=F("queued_at") + threshold)
    # One grouped query for both directions: the inbound figures over inbound interactions queued
    # today, the outbound ones over outbound calls placed today (an answered predictive call is
    # queued too, but counts as outbound).
    inbound = in_day & Q(direction=Direction.INBOUND)
    placed = placed_in_day & Q(direction=Direction.OUTBOUND, channel=Channel.VOICE)
    counts: dict[int, dict[str, Any]] = {
        row["queue_id"]: dict(row)
        for row in Interaction.objects.filter(inbound | placed)
        .values("queue_id")
        .annotate(
            offered=Count("pk", filter=inbound),
            answered=Count("pk", filter=inbound & Q(accepted_at__isnull=False)),
            in_sl=Count("pk", filter=inbound & in_sl),
            abandoned=Count("pk", filter=inbound & Q(accepted_at__isnull=True, abandoned_at__isnull=False)),
            late=Count("pk", filter=inbound & Q(accepted_at__isnull=True) & late),
            placed=Count("pk", filter=placed),
            connected=Count("pk", filter=placed & Q(call_outcome=CallOutcome.ANSWERED)),
            unanswered=Count(
                "pk",
                filter=placed
                & Q(
                    call_outcome__in=(
                        CallOutcome.BUSY,
                        CallOutcome.NO_ANSWER,
                        CallOutcome.MACHINE,
                        CallOutcome.FAX,
                    )
                ),
            ),
            failed=Count("pk", filter=placed & Q(call_outcome=CallOutcome.FAILED)),
            in_progress=Count("pk", filter=placed & Q(status__in=PLACING_STATUSES)),
        )
        .order_by()
    }
    agents: dict[int, dict[str, Any]] = {
        row["queues"]: dict(row)
        for row in AgentProfile.objects.filter(queues__in=ids)
        .values("queues")
        .annotate(
            available=Count("pk", filter=Q(state=AgentState.AVAILABLE)),
            busy=Count(
                "pk",
                filter=Q(
                    state__in=(AgentState.BUSY, AgentState.OFFERED, AgentState.WRAP_UP, AgentState.RESERVED)
                ),
            ),
        )
        .order_by()
    }
    stats = []
    for queue in chosen:
        line = waiting.get(queue.pk, {})
        oldest = line.get("oldest")
        row = counts.get(queue.pk, {})
        denominator = row.get("answered", 0) + row.get("late", 0)
        stats.append(
            QueueStats(
                queue_id=queue.pk,
                name=queue.name,
                waiting=line.get("count", 0),
                longest_wait_seconds=int((now - oldest).total_seconds()) if oldest else 0,
                offered_today=row.get("offered", 0),
                answered_today=row.get("answered", 0),
                abandoned_today=row.get("abandoned", 0),
                service_level_percent=round(100 * row["in_sl"] / denominator, 1) if denominator else None,
                service_level_target=queue.service_level_percent,
                service_level_seconds=queue.service_level_seconds,
                agents_available=agents.get(queue.pk, {}).get("available", 0),
                agents_busy=agents.get(queue.pk, {}).get("busy", 0),
                outbound_placed_today=row.get("placed", 0),
                outbound_connected_today=row.get("connected", 0),
                outbound_unanswered_today=row.get("unanswered", 0),
                outbound_failed_today=row.get("failed", 0),
                outbound_in_progress=row.get("in_progress", 0),
            )
        )
    return stats


def agent_board() -> QuerySet[AgentProfile]:
    """Agents for the wallboard's grid: everyone not offline, with user and reason, in two
    queries plus one for their current interactions (prefetched)."""
    held = Interaction.objects.filter(status__in=OPEN_WORK).select_related("queue", "customer")
    return (
        AgentProfile.objects.exclude(presence=Presence.OFFLINE, total_load=0)
        .select_related("user", "not_ready_reason")
        .prefetch_related(Prefetch("interactions", queryset=held, to_attr="held"))
        .order_by("user__username")
    )


@dataclass(frozen=True)
class QueuePosition:
    position: int
    estimated_wait_seconds: int


def interaction_queue_position(*, interaction: Interaction) -> QueuePosition | None:
    """Place in line (1 = next) and an estimated wait, for the customer-facing side; None
    once the interaction is no longer waiting. The estimate is position x average handle
    time of the queue's last 50 closed interactions / agents serving the queue now."""
    if interaction.status != InteractionStatus.QUEUED or interaction.queue_id is None:
        return None
    queue_priority = (
        Queue.objects.filter(pk=interaction.queue_id).values_list("priority", flat=True).first() or 0
    )
    rank = interaction.priority + queue_priority
    ahead = (
        Interaction.objects.filter(queue_id=interaction.queue_id, status=InteractionStatus.QUEUED)
        .annotate(rank=F("priority") + F("queue__priority"))
        .filter(
            Q(rank__gt=rank)
            | Q(rank=rank, queued_at__lt=interaction.queued_at)
            | Q(rank=rank, queued_at=interaction.queued_at, pk__lt=interaction.pk)
        )
        .count()
    )
    handled = (
        Interaction.objects.filter(queue_id=interaction.queue_id, status=InteractionStatus.CLOSED)
        .exclude(accepted_at=None)
        .order_by("-closed_at")[:50]
        .values_list("accepted_at", "closed_at")
    )
    durations = [(closed - accepted).total_seconds() for accepted, closed in handled if closed and accepted]
    handle = sum(durations) / len(durations) if durations else DEFAULT_HANDLE_SECONDS
    serving = max(
        1,
        AgentProfile.objects.filter(queues=interaction.queue_id).exclude(presence=Presence.OFFLINE).count(),
    )
    return QueuePosition(position=ahead + 1, estimated_wait_seconds=int((ahead + 1) * handle / serving))


# -- agent desktop ---------------------------------------------------------------------------------

_WORK_ORDER = {
    InteractionStatus.OFFERED: 0,
    InteractionStatus.DIALING: 1,
    InteractionStatus.RINGING: 1,
    InteractionStatus.ACTIVE: 2,
    InteractionStatus.WRAP_UP: 3,
}


def interactions_visible_to(*, user: Any) -> QuerySet[Interaction]:
    """What a user may open: supervisors and admins everything; agents their own interactions
    and their queues' history (the rule the API applies too)."""
    from apps.accounts.roles import Role, has_role

    queryset = Interaction.objects.all()
    if has_role(user, Role.SUPERVISOR, Role.ADMIN):
        return queryset
    mine = Interaction.objects.filter(agent__user=user).values("pk")
    in_my_queues = Interaction.objects.filter(queue__agents__user=user).values("pk")
    return queryset.filter(Q(pk__in=mine) | Q(pk__in=in_my_queues))


def agent_work(*, agent: AgentProfile) -> list[Interaction]:
    """The agent's open work, offers first (they expire), then calls being placed for them, then
    active ones by age, then wrap-ups: one query."""
    rows = list(
        Interaction.objects.filter(agent=agent, status__in=OPEN_WORK)
        .select_related("customer", "queue")
        .order_by("offered_at", "id")
    )
    return sorted(rows, key=lambda i: _WORK_ORDER.get(InteractionStatus(i.status), 9))


def agent_queue_history(*, agent: AgentProfile, limit: int = 15) -> list[Interaction]:
    """Finished interactions of the agent's own and of their queues, newest first."""
    finished = (
        InteractionStatus.CLOSED,
        InteractionStatus.ABANDONED,
        InteractionStatus.MISSED,
        InteractionStatus.TRANSFERRED,
    )
    queue_ids = list(agent.queues.values_list("pk", flat=True))
    return list(
        Interaction.objects.filter(Q(agent=agent) | Q(queue_id__in=queue_ids), status__in=finished)
        .select_related("customer", "queue", "agent__user", "disposition")
        .order_by("-created_at", "-id")[:limit]
    )


def waiting_interactions(*, limit: int = 50) -> list[Interaction]:
    """Queued and offered interactions, oldest first, for the wallboard's reassign list."""
    return list(
        Interaction.objects.filter(status__in=(InteractionStatus.QUEUED, InteractionStatus.OFFERED))
        .select_related("customer", "queue", "agent__user")
        .order_by("queued_at", "id")[:limit]
    )


@dataclass(frozen=True)
class DeskPulse:
    """What an agent's desk compares with what it shows, on every heartbeat: the agent's state
    version and the offers open for them now (id and version each)."""

    agent_version: int
    presence: str
    offers: list[tuple[int, int]]


def agent_desk_pulse(*, user_id: int) -> DeskPulse | None:
    """The user's DeskPulse (None without an agent profile): one query, the agent row joined
    to its offers through the (agent, status) index."""
    rows = list(
        AgentProfile.objects.filter(user_id=user_id)
        .annotate(
            offer=FilteredRelation(
                "interactions", condition=Q(interactions__status=InteractionStatus.OFFERED)
            )
        )
        .order_by("offer__id")
        .values_list("version", "presence", "offer__id", "offer__version")
    )
    if not rows:
        return None
    version, presence = rows[0][0], rows[0][1]
    offers = [(pk, offer_version) for _, _, pk, offer_version in rows if pk is not None]
    return DeskPulse(agent_version=version, presence=presence, offers=offers)
