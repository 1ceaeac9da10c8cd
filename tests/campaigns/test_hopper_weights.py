"""The hopper's list mix: among the lists of one priority, the claim is shared by weight (a list
that runs short leaves its share to the others); a higher priority list is drained first; a
list switched off on the campaign is never claimed."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.campaigns.dialer.hopper import hopper_claim, weighted_shares
from apps.campaigns.models import Campaign, CampaignList, ContactList
from tests.campaigns.factories import LeadFactory, attach_list, make_voice_campaign

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 3, 20, 0, tzinfo=dt.UTC)
_numbers = iter(range(10_000))


def _fill(campaign: Campaign, contact_list: ContactList, n: int, *, priority: int = 0) -> None:
    for _ in range(n):
        LeadFactory(
            campaign=campaign,
            contact_list=contact_list,
            priority=priority,
            contact=f"+1415777{next(_numbers):04d}",
        )


def _by_list(leads: list) -> dict[int | None, int]:  # type: ignore[type-arg]
    counts: dict[int | None, int] = {}
    for lead in leads:
        counts[lead.contact_list_id] = counts.get(lead.contact_list_id, 0) + 1
    return counts


def test_shares_follow_the_weights_and_add_up() -> None:
    assert weighted_shares(10, [(1, 3), (2, 1)]) == {1: 8, 2: 2}  # 7.5 and 2.5: the tie goes first
    assert weighted_shares(7, [(1, 1), (2, 1), (3, 1)]) == {1: 3, 2: 2, 3: 2}
    assert sum(weighted_shares(101, [(1, 5), (2, 3), (3, 2)]).values()) == 101


def test_lists_of_one_priority_are_drawn_by_weight() -> None:
    campaign = make_voice_campaign()
    heavy, light = attach_list(campaign, weight=3), attach_list(campaign, weight=1)
    _fill(campaign, heavy, 30)
    _fill(campaign, light, 30)

    claimed = hopper_claim(campaign=campaign, limit=8, now=NOW)

    assert _by_list(claimed) == {heavy.pk: 6, light.pk: 2}


def test_a_short_list_leaves_its_share_to_the_others() -> None:
    campaign = make_voice_campaign()
    heavy, light = attach_list(campaign, weight=1), attach_list(campaign, weight=3)
    _fill(campaign, heavy, 30)
    _fill(campaign, light, 2)

    claimed = hopper_claim(campaign=campaign, limit=10, now=NOW)

    assert _by_list(claimed) == {heavy.pk: 8, light.pk: 2}


def test_a_higher_priority_list_is_drained_before_weighted_lower_ones() -> None:
    campaign = make_voice_campaign()
    first = attach_list(campaign, priority=5)
    a, b = attach_list(campaign, weight=2), attach_list(campaign, weight=1)
    _fill(campaign, first, 4, priority=5)
    _fill(campaign, a, 20)
    _fill(campaign, b, 20)

    claimed = hopper_claim(campaign=campaign, limit=10, now=NOW)

    assert _by_list(claimed) == {first.pk: 4, a.pk: 4, b.pk: 2}
    assert [lead.contact_list_id for lead in claimed[:4]] == [first.pk] * 4


def test_a_list_switched_off_on_the_campaign_is_not_claimed() -> None:
    campaign = make_voice_campaign()
    on, off = attach_list(campaign), attach_list(campaign)
    CampaignList.objects.filter(campaign=campaign, contact_list=off).update(is_active=False)
    _fill(campaign, on, 3)
    _fill(campaign, off, 3)

    claimed = hopper_claim(campaign=campaign, limit=10, now=NOW)

    assert _by_list(claimed) == {on.pk: 3}
