"""seed_campaigns: the demo's progressive and preview campaigns on the demo Sales queue, with
the demo leads and prospects as their list, retry rules and an open window, started; safe to
run again; the progressive one dials for a free demo agent."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.accounts.models import User
from apps.campaigns.dialer import tick
from apps.campaigns.management.commands.seed_campaigns import DEMO_LIST, DEMO_QUEUE
from apps.campaigns.models import Campaign, CampaignStatus, ContactList, DialMode, Lead, RetryRule
from apps.core.actors import SYSTEM
from apps.customers.models import Customer
from apps.interactions import services
from apps.interactions.models import AgentProfile, InteractionStatus, Presence

pytestmark = pytest.mark.django_db

# Monday 2 March 2026, 17:00 UTC: noon in New York, 09:00 in Los Angeles.
US_DAYTIME = dt.datetime(2026, 3, 2, 17, 0, tzinfo=dt.UTC)


def _seed() -> str:
    out = StringIO()
    call_command("seed_campaigns", stdout=out)
    return out.getvalue()


@pytest.fixture
def demo() -> str:
    """seed_demo's output: it runs seed_campaigns after the contact center (make run's demo)."""
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_campaigns_creates_and_starts_a_progressive_and_a_preview_campaign(demo: str) -> None:
    output = demo

    campaigns = list(Campaign.objects.order_by("name"))
    assert [(c.name, c.dial_mode, c.status, c.queue.name) for c in campaigns] == [
        ("Demo follow-up (preview)", DialMode.PREVIEW, CampaignStatus.ACTIVE, DEMO_QUEUE),
        ("Demo sales calls", DialMode.PROGRESSIVE, CampaignStatus.ACTIVE, DEMO_QUEUE),
    ]
    for campaign in campaigns:
        assert (campaign.window_start, campaign.window_end) == (dt.time(8, 0), dt.time(21, 0))
        assert len(campaign.window_days) == 7
        assert set(RetryRule.objects.filter(campaign=campaign).values_list("category", "delay_minutes")) == {
            ("busy", 15),
            ("no_answer", 120),
            ("voicemail", 1440),
        }
    contact_list = ContactList.objects.get(name=DEMO_LIST)
    prospects = Customer.objects.filter(
        external_id__startswith="demo-", lifecycle_stage__in=["lead", "prospect"]
    ).count()
    assert prospects > 50
    for campaign in campaigns:
        leads = Lead.objects.filter(campaign=campaign, contact_list=contact_list)
        # A lead per phone number of a prospect (a customer without one has none).
        assert 0 < leads.values("customer").distinct().count() <= prospects
        assert not leads.exclude(customer__lifecycle_stage__in=["lead", "prospect"]).exists()
    assert "2 created, 2 started" in output


def test_seed_campaigns_run_again_creates_nothing_and_keeps_a_pause(demo: str) -> None:
    _seed()
    paused = Campaign.objects.get(name="Demo sales calls")
    Campaign.objects.filter(pk=paused.pk).update(status=CampaignStatus.PAUSED)
    before = (
        Campaign.objects.count(),
        ContactList.objects.count(),
        Lead.objects.count(),
        RetryRule.objects.count(),
    )

    output = _seed()

    after = (
        Campaign.objects.count(),
        ContactList.objects.count(),
        Lead.objects.count(),
        RetryRule.objects.count(),
    )
    assert after == before
    assert Campaign.objects.get(pk=paused.pk).status == CampaignStatus.PAUSED
    assert "0 created, 0 started" in output


def test_seed_campaigns_without_the_demo_contact_center_says_to_seed_it_first() -> None:
    with pytest.raises(CommandError, match="seed_demo"):
        _seed()
    assert Campaign.objects.count() == 0


def test_the_demo_progressive_campaign_dials_for_a_free_demo_agent(demo: str) -> None:
    _seed()
    agent = AgentProfile.objects.get(user=User.objects.get(username="agent"))
    services.agent_set_presence(actor=SYSTEM, agent_id=agent.pk, presence=Presence.AVAILABLE)
    campaign = Campaign.objects.get(name="Demo sales calls")

    result = tick.campaign_tick(campaign_id=campaign.pk, now=US_DAYTIME)

    assert result.dialled == 1
    call = campaign.attempts.get().interaction
    assert (call.status, call.agent_id) == (InteractionStatus.DIALING, agent.pk)
