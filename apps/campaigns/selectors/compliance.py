"""The compliance report: for every campaign, the abandon rate of its calls over the window (the
FTC's measure: abandoned / answered, capped by Campaign.max_abandon_percent over 30 days) and
every refusal of the compliance gate by rule, from the contact log. Three queries whatever the
number of campaigns."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Q

from apps.campaigns.models import AttemptStatus, Campaign, CampaignChannel, ContactLog, LeadAttempt
from apps.campaigns.services.gate import RULE_LABELS, RULES

WINDOWS = (7, 30, 90)


@dataclass
class CampaignCompliance:
    campaign: Campaign
    answered: int = 0
    abandoned: int = 0
    decisions: int = 0
    allowed: int = 0
    refusals: dict[str, int] = field(default_factory=dict)

    @property
    def abandon_percent(self) -> float | None:
        if not self.answered:
            return None
        return round(100 * self.abandoned / self.answered, 2)

    @property
    def over_cap(self) -> bool:
        rate = self.abandon_percent
        return rate is not None and rate > float(self.campaign.max_abandon_percent)

    @property
    def refused(self) -> int:
        return sum(self.refusals.values())


@dataclass
class ComplianceReport:
    since: dt.datetime
    days: int
    rows: list[CampaignCompliance]
    rules: list[tuple[str, str]]
    """(rule, label) of the refusal columns: the rules that refused something, in RULES order."""

    def refusal_cells(self, row: CampaignCompliance) -> list[int]:
        return [row.refusals.get(rule, 0) for rule, _ in self.rules]


def compliance_report(*, now: dt.datetime, days: int = 30) -> ComplianceReport:
    since = now - dt.timedelta(days=days)
    campaigns = list(Campaign.objects.select_related("queue").order_by("name"))
    rows = {campaign.pk: CampaignCompliance(campaign=campaign) for campaign in campaigns}
    calls = (
        LeadAttempt.objects.filter(channel=CampaignChannel.VOICE, started_at__gte=since, started_at__lte=now)
        .order_by()
        .values_list("campaign_id")
        .annotate(
            answered=Count("id", filter=Q(answered_at__isnull=False)),
            abandoned=Count("id", filter=Q(status=AttemptStatus.ABANDONED)),
        )
    )
    for campaign_id, answered, abandoned in calls:
        if campaign_id in rows:
            rows[campaign_id].answered, rows[campaign_id].abandoned = int(answered), int(abandoned)
    decided = (
        ContactLog.objects.filter(at__gte=since, at__lte=now, campaign__isnull=False)
        .order_by()
        .values_list("campaign_id", "allowed", "rule")
        .annotate(n=Count("id"))
    )
    seen: set[str] = set()
    for campaign_id, allowed, rule, n in decided:
        row = rows.get(campaign_id)
        if row is None:
            continue
        row.decisions += int(n)
        if allowed:
            row.allowed += int(n)
        else:
            row.refusals[rule] = row.refusals.get(rule, 0) + int(n)
            seen.add(rule)
    ordered = [(rule, RULE_LABELS[rule]) for rule in RULES if rule in seen]
    ordered += [(rule, rule) for rule in sorted(seen - set(RULES))]
    return ComplianceReport(since=since, days=days, rows=list(rows.values()), rules=ordered)
