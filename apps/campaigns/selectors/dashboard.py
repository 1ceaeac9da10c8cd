"""Reads for the marketers' pages: the campaigns list with today's figures, one campaign's live
dashboard, the lists a campaign may attach. Every read is a fixed number of grouped queries,
whatever the number of campaigns, attempts or leads.

Definitions (today = since local midnight in the server's time zone, TIME_ZONE):
- dialled: attempts started (calls placed, texts or emails handed to their gateway);
- answered: attempts a person picked up (answered_at) or a message delivered;
- connected: answered calls an agent took (connected_at);
- abandon rate: abandoned / answered calls, in percent (the FTC's measure, which
  Campaign.max_abandon_percent caps over 30 days); None without an answered call;
- contacts per agent-hour: connected attempts / staffed hours of the campaign's queue agents
  (time in any state but offline and not ready);
- agent occupancy: the time those agents spent on this campaign's calls (connected to ended,
  or now) / their staffed time, in percent;
- list penetration: leads attempted at least once / leads, per attached list.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncHour
from django.utils import timezone

from apps.campaigns.models import (
    AttemptStatus,
    Campaign,
    CampaignList,
    ContactList,
    Lead,
    LeadAttempt,
)
from apps.interactions.models import AgentState, AgentStateChange

ANSWERED = Q(answered_at__isnull=False) | Q(status=AttemptStatus.DELIVERED)
CONNECTED = Q(connected_at__isnull=False)
ABANDONED = Q(status=AttemptStatus.ABANDONED)
# States in which an agent is not staffed for work.
UNSTAFFED_STATES = (AgentState.OFFLINE, AgentState.NOT_READY)

# The chart's outcomes, in the order they stack.
OUTCOMES: tuple[tuple[str, str], ...] = (
    ("connected", "Connected to an agent"),
    ("abandoned", "Abandoned"),
    ("answered", "Answered, not connected"),
    ("not_reached", "Not reached"),
    ("in_progress", "In progress"),
)


@dataclass(frozen=True)
class Figures:
    dialled: int = 0
    answered: int = 0
    connected: int = 0
    abandoned: int = 0

    @property
    def abandon_percent(self) -> float | None:
        if not self.answered:
            return None
        return round(100 * self.abandoned / self.answered, 1)


@dataclass(frozen=True)
class CampaignRow:
    campaign: Campaign
    today: Figures


@dataclass(frozen=True)
class ListPenetration:
    link: CampaignList
    leads: int
    attempted: int

    @property
    def percent(self) -> float | None:
        return round(100 * self.attempted / self.leads, 1) if self.leads else None


@dataclass(frozen=True)
class DispositionCount:
    label: str
    category: str
    count: int


@dataclass
class Dashboard:
    campaign: Campaign
    now: dt.datetime
    today: Figures
    last_30_days: Figures
    staffed_hours: float
    busy_hours: float
    dispositions: list[DispositionCount]
    penetration: list[ListPenetration]
    chart: dict[str, object] = field(default_factory=dict)

    @property
    def chart_json(self) -> str:
        """The chart's data for the page's data-chart attribute (the template escapes it)."""
        return json.dumps(self.chart)

    @property
    def contacts_per_agent_hour(self) -> float | None:
        if self.staffed_hours <= 0:
            return None
        return round(self.today.connected / self.staffed_hours, 2)

    @property
    def occupancy_percent(self) -> float | None:
        if self.staffed_hours <= 0:
            return None
        return round(min(100.0, 100 * self.busy_hours / self.staffed_hours), 1)


def start_of_today(now: dt.datetime | None = None) -> dt.datetime:
    local = timezone.localtime(now or timezone.now())
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _figures(row: Mapping[str, Any] | None) -> Figures:
    if not row:
        return Figures()
    return Figures(
        dialled=row["dialled"],
        answered=row["answered"],
        connected=row["connected"],
        abandoned=row["abandoned"],
    )


_COUNTS = {
    "dialled": Count("id"),
    "answered": Count("id", filter=ANSWERED),
    "connected": Count("id", filter=CONNECTED),
    "abandoned": Count("id", filter=ABANDONED),
}


def campaigns_overview(*, now: dt.datetime | None = None) -> list[CampaignRow]:
    """Every campaign, newest first, with today's figures: two queries (campaigns with their
    queue, one grouped count of today's attempts)."""
    since = start_of_today(now)
    campaigns = list(Campaign.objects.select_related("queue").order_by("status", "-created_at", "-id"))
    counts: dict[int, Mapping[str, Any]] = {
        row["campaign_id"]: row
        for row in LeadAttempt.objects.filter(started_at__gte=since, campaign__in=[c.pk for c in campaigns])
        .values("campaign_id")
        .annotate(**_COUNTS)
    }
    return [CampaignRow(campaign=c, today=_figures(counts.get(c.pk))) for c in campaigns]


def _overlap_hours(
    start: dt.datetime, end: dt.datetime | None, since: dt.datetime, now: dt.datetime
) -> float:
    begin = max(start, since)
    finish = min(end or now, now)
    return max(0.0, (finish - begin).total_seconds() / 3600)


def campaign_dashboard(*, campaign: Campaign, now: dt.datetime | None = None) -> Dashboard:
    """One campaign's live figures (see the module for each definition), in seven queries."""
    now = now or timezone.now()
    since = start_of_today(now)
    attempts = LeadAttempt.objects.filter(campaign=campaign)
    today = _figures(attempts.filter(started_at__gte=since).aggregate(**_COUNTS))
    last_30 = _figures(attempts.filter(started_at__gte=now - dt.timedelta(days=30)).aggregate(**_COUNTS))

    staffed = 0.0
    if campaign.queue_id is not None:
        changes = AgentStateChange.objects.filter(agent__queues=campaign.queue_id, started_at__lt=now).filter(
            Q(ended_at__isnull=True) | Q(ended_at__gt=since)
        )
        for started_at, ended_at in changes.exclude(state__in=UNSTAFFED_STATES).values_list(
            "started_at", "ended_at"
        ):
            staffed += _overlap_hours(started_at, ended_at, since, now)
    busy = 0.0
    talk = attempts.filter(connected_at__isnull=False, connected_at__lt=now).filter(
        Q(ended_at__isnull=True) | Q(ended_at__gt=since)
    )
    for connected_at, ended_at in talk.values_list("connected_at", "ended_at"):
        if connected_at is not None:  # filtered so; the type of the column says otherwise
            busy += _overlap_hours(connected_at, ended_at, since, now)

    dispositions = [
        DispositionCount(
            label=row["disposition__label"], category=row["disposition__category"], count=row["n"]
        )
        for row in attempts.filter(started_at__gte=since, disposition__isnull=False)
        .values("disposition__label", "disposition__category")
        .annotate(n=Count("id"))
        .order_by("-n", "disposition__label")
    ]

    links = list(CampaignList.objects.filter(campaign=campaign).select_related("contact_list"))
    per_list: dict[int | None, Mapping[str, Any]] = {
        row["contact_list_id"]: row
        for row in Lead.objects.filter(campaign=campaign)
        .values("contact_list_id")
        .annotate(leads=Count("id"), attempted=Count("id", filter=Q(attempts__gt=0)))
    }
    penetration = [
        ListPenetration(
            link=link,
            leads=per_list.get(link.contact_list_id, {}).get("leads", 0),
            attempted=per_list.get(link.contact_list_id, {}).get("attempted", 0),
        )
        for link in links
    ]

    return Dashboard(
        campaign=campaign,
        now=now,
        today=today,
        last_30_days=last_30,
        staffed_hours=round(staffed, 4),
        busy_hours=round(busy, 4),
        dispositions=dispositions,
        penetration=penetration,
        chart=_hourly_chart(attempts.filter(started_at__gte=since), since, now),
    )


def _hourly_chart(attempts: QuerySet[LeadAttempt], since: dt.datetime, now: dt.datetime) -> dict[str, object]:
    """Attempts per hour today by outcome, as Chart.js datasets (labels "09:00"...)."""
    zone = timezone.get_current_timezone()
    hours = int((now - since).total_seconds() // 3600) + 1
    labels = [f"{(since + dt.timedelta(hours=h)).hour:02d}:00" for h in range(hours)]
    counts = {key: [0] * hours for key, _ in OUTCOMES}
    rows = (
        attempts.annotate(hour=TruncHour("started_at", tzinfo=zone))
        .values("hour", "status")
        .annotate(
            connected=Count("id", filter=CONNECTED),
            answered=Count("id", filter=ANSWERED & ~CONNECTED),
            ended=Count("id", filter=~ANSWERED & Q(ended_at__isnull=False)),
            total=Count("id"),
        )
    )
    for row in rows:
        index = int((timezone.localtime(row["hour"], zone) - since).total_seconds() // 3600)
        if not 0 <= index < hours:
            continue
        connected, answered, ended, total = row["connected"], row["answered"], row["ended"], row["total"]
        if row["status"] == AttemptStatus.ABANDONED:
            counts["connected"][index] += connected
            counts["abandoned"][index] += total - connected
            continue
        counts["connected"][index] += connected
        counts["answered"][index] += answered
        counts["not_reached"][index] += ended
        counts["in_progress"][index] += total - connected - answered - ended
    return {
        "labels": labels,
        "datasets": [{"key": key, "label": label, "data": counts[key]} for key, label in OUTCOMES],
    }


def contact_lists_available() -> QuerySet[ContactList]:
    """Lists a campaign may attach, newest first."""
    return ContactList.objects.order_by("-created_at", "-id")
