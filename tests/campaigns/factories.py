"""Campaign, list and lead factories. Leads go straight to the table (a list import is tested
on its own); `make_voice_campaign` gives an active voice campaign with its queue."""

from __future__ import annotations

import datetime as dt
from typing import Any

import factory
from factory.django import DjangoModelFactory

from apps.campaigns.models import (
    Campaign,
    CampaignChannel,
    CampaignList,
    CampaignStatus,
    ContactList,
    DialMode,
    Lead,
)
from tests.customers.factories import CustomerFactory
from tests.interactions.factories import make_queue


class CampaignFactory(DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    channel = CampaignChannel.VOICE
    dial_mode = DialMode.PREVIEW
    window_start = dt.time(9, 0)
    window_end = dt.time(20, 0)
    window_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    status = CampaignStatus.ACTIVE
    version = 1


class ContactListFactory(DjangoModelFactory):
    class Meta:
        model = ContactList

    name = factory.Sequence(lambda n: f"List {n}")


class LeadFactory(DjangoModelFactory):
    class Meta:
        model = Lead

    campaign = factory.SubFactory(CampaignFactory)
    customer = factory.SubFactory(CustomerFactory)
    contact = factory.Sequence(lambda n: f"+1415666{n % 10000:04d}")
    time_zones = ["America/Los_Angeles"]


def make_voice_campaign(*, dial_mode: str = DialMode.PREVIEW, queue: Any = None, **fields: Any) -> Campaign:
    """An active voice campaign worked by `queue` (a new voice queue when not given)."""
    queue = queue or make_queue(channels=["voice"])
    return CampaignFactory(dial_mode=dial_mode, queue=queue, **fields)


def attach_list(campaign: Campaign, *, priority: int = 0, weight: int = 1, **fields: Any) -> ContactList:
    contact_list = ContactListFactory(**fields)
    CampaignList.objects.create(
        campaign=campaign, contact_list=contact_list, priority=priority, weight=weight
    )
    return contact_list
