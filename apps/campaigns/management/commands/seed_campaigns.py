"""`manage.py seed_campaigns`: the demo's outbound campaigns, for the agents of `seed_demo`.

- "Demo sales calls": a progressive voice campaign on the demo Sales queue (the demo agents
  take its calls at the desk: the dialer reserves a free agent per call and, with no provider
  registered, the built-in voice simulator answers, rings out or is busy as its odds say);
- "Demo follow-up (preview)": a preview voice campaign on the same queue, dialled by the agent
  from the lead's card.

Both dial the contact list "Demo leads and prospects" (the demo customers in the lead and
prospect stages, a segment read through the services, so consent, erasure and time zones are
what real use would give), with retry rules per outcome, every day from 08:00 to 21:00 in each
lead's own time (the widest the law allows): the demo customers live from the Americas to Japan,
so some are in their daytime whatever the hour. Campaigns are started at once.

Idempotent: campaigns and the list are found by name; a second run creates nothing and starts
nothing a person paused or completed. Needs `seed_demo` first (its queues and customers).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.campaigns.models import Campaign, CampaignChannel, CampaignStatus, ContactList, DialMode
from apps.campaigns.segments import contact_list_create_from_segment
from apps.campaigns.services.audience import (
    ListLink,
    RetrySetting,
    campaign_lists_set,
    campaign_retry_rules_set,
)
from apps.campaigns.services.campaigns import campaign_create, campaign_set_status
from apps.core.actors import SystemActor
from apps.interactions.models import DispositionCategory, Queue

SEED_CAMPAIGNS = SystemActor("seed_campaigns")
"""Who the audit log says created and started the demo campaigns."""
DEMO_QUEUE = "Sales"
DEMO_LIST = "Demo leads and prospects"
DEMO_SEGMENT: dict[str, Any] = {"lifecycle_stage": ["lead", "prospect"]}
CALLER_ID = "+14155550123"
# Busy again in 15 minutes, no answer in 2 hours, voicemail the next day, a wrong number never.
RETRY_RULES = (
    RetrySetting(DispositionCategory.BUSY, delay_minutes=15, max_attempts=5),
    RetrySetting(DispositionCategory.NO_ANSWER, delay_minutes=120, max_attempts=4),
    RetrySetting(DispositionCategory.VOICEMAIL, delay_minutes=24 * 60, max_attempts=2),
)


@dataclass(frozen=True)
class DemoCampaign:
    name: str
    dial_mode: str
    description: str


DEMO_CAMPAIGNS = (
    DemoCampaign(
        "Demo sales calls",
        DialMode.PROGRESSIVE,
        "Progressive calls to leads and prospects: one call per free Sales agent.",
    ),
    DemoCampaign(
        "Demo follow-up (preview)",
        DialMode.PREVIEW,
        "Preview calls: the agent reads the lead's card, then dials or skips.",
    ),
)


@dataclass
class SeedResult:
    campaigns_created: int = 0
    campaigns_started: int = 0
    list_created: bool = False
    leads: int = 0


def campaigns_seed() -> SeedResult:
    """Create what is missing of the demo campaigns (see the module); all zero on a second run.
    CommandError when the demo Sales queue is missing (seed_demo not run yet)."""
    queue = Queue.objects.filter(name=DEMO_QUEUE).first()
    if queue is None:
        raise CommandError(f"No {DEMO_QUEUE} queue: run `manage.py seed_demo` first.")
    result = SeedResult()
    with transaction.atomic():
        campaigns = []
        for spec in DEMO_CAMPAIGNS:
            campaign = Campaign.objects.filter(name=spec.name).first()
            if campaign is None:
                campaign = campaign_create(
                    actor=SEED_CAMPAIGNS,
                    name=spec.name,
                    description=spec.description,
                    channel=CampaignChannel.VOICE,
                    dial_mode=spec.dial_mode,
                    queue=queue,
                    caller_id=CALLER_ID,
                    window_start=dt.time(8, 0),
                    window_end=dt.time(21, 0),
                    window_days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                    max_attempts_per_lead=6,
                    max_attempts_per_number=6,
                )
                campaign_retry_rules_set(actor=SEED_CAMPAIGNS, campaign_id=campaign.pk, rules=RETRY_RULES)
                result.campaigns_created += 1
            campaigns.append(campaign)
        contact_list = ContactList.objects.filter(name=DEMO_LIST).first()
        if contact_list is None:
            contact_list = contact_list_create_from_segment(
                actor=SEED_CAMPAIGNS, name=DEMO_LIST, filters=DEMO_SEGMENT, campaign=campaigns[0]
            )
            result.list_created = True
        for campaign in campaigns:
            if campaign.status == CampaignStatus.DRAFT:
                if not campaign.list_links.filter(contact_list=contact_list, is_active=True).exists():
                    campaign_lists_set(
                        actor=SEED_CAMPAIGNS,
                        campaign_id=campaign.pk,
                        links=[ListLink(contact_list_id=contact_list.pk)],
                    )
                campaign_set_status(
                    actor=SEED_CAMPAIGNS,
                    campaign_id=campaign.pk,
                    to_status=CampaignStatus.ACTIVE,
                    reason="demo",
                )
                result.campaigns_started += 1
        result.leads = sum(campaign.leads.count() for campaign in campaigns)
    return result


class Command(BaseCommand):
    help = "Create and start the demo outbound campaigns (after seed_demo). Safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        result = campaigns_seed()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo campaigns ready: {result.campaigns_created} created, {result.campaigns_started} "
                f"started, {result.leads} leads."
            )
        )
