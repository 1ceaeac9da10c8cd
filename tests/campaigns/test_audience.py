"""The audience and retry-rule writes of a campaign (apps.campaigns.services.audience): who may
make them, what they refuse and leave untouched, what they attach, keep, detach and replace,
the campaign lock they take, and the one event each change publishes after commit."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction

from apps.accounts.models import User
from apps.campaigns import events as campaign_events
from apps.campaigns.exceptions import InvalidCampaign, InvalidStatusChange
from apps.campaigns.models import (
    Campaign,
    CampaignList,
    CampaignStatus,
    ContactList,
    Lead,
    ListSource,
    RetryRule,
)
from apps.campaigns.services.audience import (
    ListLink,
    RetrySetting,
    campaign_lists_set,
    campaign_retry_rules_set,
)
from apps.campaigns.services.campaigns import campaign_set_status
from apps.core.actors import SystemActor
from apps.core.exceptions import NotAllowed
from apps.customers.services.customers import ContactInput, customer_create
from apps.interactions import events as interaction_events
from apps.interactions.models import Disposition, DispositionCategory
from tests.campaigns.factories import ContactListFactory, LeadFactory, attach_list, make_voice_campaign
from tests.conftest import require_postgres

pytestmark = pytest.mark.django_db


def _state(campaign: Campaign) -> dict[str, Any]:
    campaign.refresh_from_db()
    return {
        "version": campaign.version,
        "status": campaign.status,
        "links": sorted(
            CampaignList.objects.filter(campaign=campaign).values_list(
                "contact_list_id", "priority", "weight", "is_active"
            )
        ),
        "rules": sorted(
            RetryRule.objects.filter(campaign=campaign).values_list(
                "category", "disposition_id", "delay_minutes", "max_attempts"
            )
        ),
        "leads": sorted(Lead.objects.filter(campaign=campaign).values_list("contact", "priority")),
    }


def _vip_segment(admin: User, *numbers: str) -> ContactList:
    """A saved segment of the customers tagged vip, one customer per number."""
    for n, number in enumerate(numbers):
        customer_create(
            actor=admin,
            first_name=f"Vip {n}",
            last_name="Customer",
            contacts=[ContactInput(kind="phone", value=number)],
            tags=["vip"],
        )
    return ContactList.objects.create(
        name="VIP customers", source=ListSource.SEGMENT, segment_filters={"tags": ["vip"]}
    )


# --- authorization ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["Agent", "Supervisor", None])
def test_a_role_that_does_not_manage_campaigns_changes_neither_lists_nor_rules(
    make_user: Callable[..., User], role: str | None
) -> None:
    campaign = make_voice_campaign()
    kept = attach_list(campaign, priority=1)
    other = ContactListFactory()
    RetryRule.objects.create(campaign=campaign, category=DispositionCategory.BUSY, delay_minutes=15)
    actor = make_user(role)
    before = _state(campaign)

    with pytest.raises(NotAllowed, match="Only marketers and admins manage campaigns."):
        campaign_lists_set(actor=actor, campaign_id=campaign.pk, links=[ListLink(other.pk)])
    with pytest.raises(NotAllowed, match="Only marketers and admins manage campaigns."):
        campaign_retry_rules_set(actor=actor, campaign_id=campaign.pk, rules=[])

    assert _state(campaign) == before
    assert before["links"] == [(kept.pk, 1, 1, True)]


def test_no_actor_is_refused_not_read_as_the_system() -> None:
    campaign = make_voice_campaign()
    other = ContactListFactory()
    before = _state(campaign)
    needs_actor = "This action needs the person (or the part of the system) it acts for."

    with pytest.raises(NotAllowed, match=re.escape(needs_actor)):
        campaign_lists_set(actor=None, campaign_id=campaign.pk, links=[ListLink(other.pk)])  # type: ignore[arg-type]
    with pytest.raises(NotAllowed, match=re.escape(needs_actor)):
        campaign_retry_rules_set(actor=None, campaign_id=campaign.pk, rules=[])  # type: ignore[arg-type]

    assert _state(campaign) == before


@pytest.mark.parametrize("role", ["Marketer", "Admin"])
def test_marketers_and_admins_set_the_lists_and_the_rules(make_user: Callable[..., User], role: str) -> None:
    campaign = make_voice_campaign()
    contact_list = ContactListFactory()
    actor = make_user(role)

    links = campaign_lists_set(
        actor=actor, campaign_id=campaign.pk, links=[ListLink(contact_list.pk, priority=2, weight=3)]
    )
    rules = campaign_retry_rules_set(
        actor=actor, campaign_id=campaign.pk, rules=[RetrySetting(DispositionCategory.BUSY, 10, 4)]
    )

    assert [(link.contact_list_id, link.priority, link.weight) for link in links] == [(contact_list.pk, 2, 3)]
    assert [(rule.category, rule.delay_minutes, rule.max_attempts) for rule in rules] == [("busy", 10, 4)]


def test_the_system_may_set_the_rules_of_a_campaign() -> None:
    campaign = make_voice_campaign()

    rules = campaign_retry_rules_set(
        actor=SystemActor("campaign copy"),
        campaign_id=campaign.pk,
        rules=[RetrySetting(DispositionCategory.NO_ANSWER, 120)],
    )

    assert [(rule.category, rule.delay_minutes, rule.max_attempts) for rule in rules] == [
        ("no_answer", 120, None)
    ]


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "message"),
    [
        (ListLink(0, priority=-1, weight=1), "priority 0 or more, weight 1 or more."),
        (ListLink(0, priority=0, weight=0), "priority 0 or more, weight 1 or more."),
    ],
)
def test_a_negative_priority_or_a_zero_weight_is_refused_on_the_lists_weight(
    marketer: User, link: ListLink, message: str
) -> None:
    campaign = make_voice_campaign()
    contact_list = ContactListFactory()
    before = _state(campaign)
    bad = ListLink(contact_list.pk, priority=link.priority, weight=link.weight)

    with pytest.raises(InvalidCampaign) as refused:
        campaign_lists_set(actor=marketer, campaign_id=campaign.pk, links=[bad])

    assert str(refused.value) == f"list_{contact_list.pk}_weight: {message}"
    assert _state(campaign) == before


def test_an_unknown_list_is_named_and_no_list_of_the_call_is_attached(marketer: User) -> None:
    campaign = make_voice_campaign()
    real = ContactListFactory()
    missing = ContactListFactory()
    missing_pk = missing.pk
    missing.delete()
    before = _state(campaign)

    with pytest.raises(InvalidCampaign) as refused:
        campaign_lists_set(
            actor=marketer, campaign_id=campaign.pk, links=[ListLink(real.pk), ListLink(missing_pk)]
        )

    assert str(refused.value) == f"lists: no contact list #{missing_pk}."
    assert _state(campaign) == before


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (RetrySetting("sale_made", 10), "retry_rules: 'sale_made' is not a disposition category."),
        (RetrySetting(DispositionCategory.BUSY, 0), "retry_busy_delay: at least 1 minute."),
        (
            RetrySetting(DispositionCategory.VOICEMAIL, 60, 0),
            "retry_voicemail_max: at least 1 attempt, or empty.",
        ),
    ],
)
def test_a_retry_rule_that_makes_no_sense_is_refused_naming_its_field(
    marketer: User, setting: RetrySetting, message: str
) -> None:
    campaign = make_voice_campaign()
    RetryRule.objects.create(campaign=campaign, category=DispositionCategory.BUSY, delay_minutes=15)
    before = _state(campaign)

    with pytest.raises(InvalidCampaign) as refused:
        campaign_retry_rules_set(
            actor=marketer,
            campaign_id=campaign.pk,
            rules=[RetrySetting(DispositionCategory.NO_ANSWER, 30), setting],
        )

    assert str(refused.value) == message
    assert _state(campaign) == before


def test_a_completed_campaign_keeps_its_lists_and_rules(marketer: User) -> None:
    campaign = make_voice_campaign(name="Autumn", status=CampaignStatus.COMPLETED)
    attach_list(campaign)
    other = ContactListFactory()
    before = _state(campaign)

    with pytest.raises(InvalidStatusChange) as lists_refused:
        campaign_lists_set(actor=marketer, campaign_id=campaign.pk, links=[ListLink(other.pk)])
    with pytest.raises(InvalidStatusChange) as rules_refused:
        campaign_retry_rules_set(
            actor=marketer, campaign_id=campaign.pk, rules=[RetrySetting(DispositionCategory.BUSY, 5)]
        )

    message = "Campaign Autumn is completed: its settings are history."
    assert str(lists_refused.value) == str(rules_refused.value) == message
    assert _state(campaign) == before


# --- what the lists write -----------------------------------------------------------------------


def test_attaching_a_segment_gives_the_campaign_its_leads_at_the_lists_priority(
    marketer: User, admin_user: User
) -> None:
    campaign = make_voice_campaign()
    segment = _vip_segment(admin_user, "+14155550134", "+14155550135")

    campaign_lists_set(
        actor=marketer, campaign_id=campaign.pk, links=[ListLink(segment.pk, priority=4, weight=2)]
    )

    state = _state(campaign)
    assert state["links"] == [(segment.pk, 4, 2, True)]
    assert state["leads"] == [("+14155550134", 4), ("+14155550135", 4)]


def test_a_kept_list_takes_its_new_priority_and_weight_and_so_do_its_leads(marketer: User) -> None:
    campaign = make_voice_campaign()
    contact_list = attach_list(campaign, priority=1, weight=1)
    LeadFactory(campaign=campaign, contact_list=contact_list, contact="+14155550140", priority=1)

    campaign_lists_set(
        actor=marketer, campaign_id=campaign.pk, links=[ListLink(contact_list.pk, priority=7, weight=5)]
    )

    state = _state(campaign)
    assert state["links"] == [(contact_list.pk, 7, 5, True)]
    assert state["leads"] == [("+14155550140", 7)]


def test_a_list_left_out_is_detached_and_its_leads_stay_for_the_figures(marketer: User) -> None:
    campaign = make_voice_campaign()
    kept = attach_list(campaign, priority=2)
    dropped = attach_list(campaign)
    LeadFactory(campaign=campaign, contact_list=dropped, contact="+14155550150")

    links = campaign_lists_set(actor=marketer, campaign_id=campaign.pk, links=[ListLink(kept.pk, priority=2)])

    assert [link.contact_list_id for link in links] == [kept.pk]
    state = _state(campaign)
    assert state["links"] == sorted([(kept.pk, 2, 1, True), (dropped.pk, 0, 1, False)])
    assert state["leads"] == [("+14155550150", 0)]


def test_a_detached_list_comes_back_with_the_settings_asked(marketer: User) -> None:
    campaign = make_voice_campaign()
    contact_list = attach_list(campaign)
    campaign_lists_set(actor=marketer, campaign_id=campaign.pk, links=[])

    campaign_lists_set(
        actor=marketer, campaign_id=campaign.pk, links=[ListLink(contact_list.pk, priority=3, weight=2)]
    )

    assert _state(campaign)["links"] == [(contact_list.pk, 3, 2, True)]
    assert CampaignList.objects.filter(campaign=campaign).count() == 1


# --- what the rules write -----------------------------------------------------------------------


def test_the_category_rules_become_exactly_those_asked_and_a_dispositions_own_rule_stays(
    marketer: User,
) -> None:
    campaign = make_voice_campaign()
    voicemail = Disposition.objects.create(
        code="vm", label="Voicemail", category=DispositionCategory.VOICEMAIL, is_final=False
    )
    RetryRule.objects.create(campaign=campaign, category=DispositionCategory.BUSY, delay_minutes=15)
    RetryRule.objects.create(
        campaign=campaign, category=DispositionCategory.NO_ANSWER, delay_minutes=120, max_attempts=3
    )
    RetryRule.objects.create(
        campaign=campaign, category=DispositionCategory.VOICEMAIL, disposition=voicemail, delay_minutes=1440
    )

    rules = campaign_retry_rules_set(
        actor=marketer,
        campaign_id=campaign.pk,
        rules=[
            RetrySetting(DispositionCategory.NO_ANSWER, 90, None),
            RetrySetting(DispositionCategory.CALLBACK, 30, 2),
        ],
    )

    assert sorted((rule.category, rule.delay_minutes, rule.max_attempts) for rule in rules) == [
        ("callback", 30, 2),
        ("no_answer", 90, None),
    ]
    assert _state(campaign)["rules"] == [
        ("callback", None, 30, 2),
        ("no_answer", None, 90, None),
        ("voicemail", voicemail.pk, 1440, None),
    ]


# --- events -------------------------------------------------------------------------------------


@pytest.fixture
def published(settings: Any) -> Iterator[Callable[[], list[tuple[str, dict[str, Any]]]]]:
    """What the campaign's dashboard group and the campaigns group receive, as (group, payload),
    from an in-memory layer this test listens on."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    layer = get_channel_layer()
    assert layer is not None
    channels: dict[str, str] = {}

    def listen(group: str) -> None:
        channels[group] = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(group, channels[group])

    def received() -> list[tuple[str, dict[str, Any]]]:
        assert interaction_events.flush()

        async def drain() -> list[tuple[str, dict[str, Any]]]:
            got: list[tuple[str, dict[str, Any]]] = []
            for group, channel in sorted(channels.items()):
                while True:
                    try:
                        message = await _receive_soon(layer, channel)
                    except TimeoutError:
                        break
                    payloads = (
                        message["payloads"] if message["type"] == "event.batch" else [message["payload"]]
                    )
                    got += [(group, payload) for payload in payloads]
            return got

        return async_to_sync(drain)()

    received.listen = listen  # type: ignore[attr-defined]
    yield received


async def _receive_soon(layer: Any, channel: str) -> dict[str, Any]:
    import asyncio

    return dict(await asyncio.wait_for(layer.receive(channel), timeout=0.2))


@pytest.mark.django_db(transaction=True)
def test_a_change_publishes_the_campaign_with_its_new_version_after_commit(
    marketer: User, published: Any
) -> None:
    campaign = make_voice_campaign()
    contact_list = ContactListFactory()
    published.listen(campaign_events.campaign_group(campaign.pk))
    published.listen(campaign_events.CAMPAIGNS_GROUP)

    campaign_lists_set(actor=marketer, campaign_id=campaign.pk, links=[ListLink(contact_list.pk)])
    after_lists = published()
    campaign_retry_rules_set(
        actor=marketer, campaign_id=campaign.pk, rules=[RetrySetting(DispositionCategory.BUSY, 10)]
    )
    after_rules = published()

    lists_event = {"kind": "campaign", "id": campaign.pk, "version": 2, "status": "active"}
    rules_event = {**lists_event, "version": 3}
    assert after_lists == [(f"campaign.{campaign.pk}", lists_event), ("campaigns", lists_event)]
    assert after_rules == [(f"campaign.{campaign.pk}", rules_event), ("campaigns", rules_event)]
    campaign.refresh_from_db()
    assert campaign.version == 3


@pytest.mark.django_db(transaction=True)
def test_setting_what_is_already_set_publishes_nothing_and_keeps_the_version(
    marketer: User, published: Any
) -> None:
    campaign = make_voice_campaign()
    contact_list = attach_list(campaign, priority=2, weight=3)
    RetryRule.objects.create(campaign=campaign, category=DispositionCategory.BUSY, delay_minutes=15)
    published.listen(campaign_events.campaign_group(campaign.pk))

    campaign_lists_set(
        actor=marketer, campaign_id=campaign.pk, links=[ListLink(contact_list.pk, priority=2, weight=3)]
    )
    campaign_retry_rules_set(
        actor=marketer, campaign_id=campaign.pk, rules=[RetrySetting(DispositionCategory.BUSY, 15)]
    )

    assert published() == []
    campaign.refresh_from_db()
    assert campaign.version == 1


@pytest.mark.django_db(transaction=True)
def test_a_refusal_or_a_rolled_back_change_publishes_nothing(marketer: User, published: Any) -> None:
    campaign = make_voice_campaign()
    contact_list = ContactListFactory()
    published.listen(campaign_events.campaign_group(campaign.pk))

    with pytest.raises(InvalidCampaign):
        campaign_retry_rules_set(
            actor=marketer, campaign_id=campaign.pk, rules=[RetrySetting(DispositionCategory.BUSY, 0)]
        )
    with pytest.raises(RuntimeError), transaction.atomic():
        campaign_lists_set(actor=marketer, campaign_id=campaign.pk, links=[ListLink(contact_list.pk)])
        raise RuntimeError("the caller's transaction fails after the lists were set")

    assert published() == []
    assert _state(campaign)["links"] == []
    assert _state(campaign)["version"] == 1


# --- locking ------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("write", ["lists", "rules"])
def test_a_write_waits_for_the_campaigns_lock_and_sees_it_completed_meanwhile(
    marketer: User, write: str
) -> None:
    require_postgres()
    campaign = make_voice_campaign(name="Spring")
    contact_list = ContactListFactory()
    locked, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def complete_and_hold() -> None:
        try:
            with transaction.atomic():
                campaign_set_status(
                    actor=marketer, campaign_id=campaign.pk, to_status=CampaignStatus.COMPLETED
                )
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    def change() -> None:
        try:
            if write == "lists":
                campaign_lists_set(actor=marketer, campaign_id=campaign.pk, links=[ListLink(contact_list.pk)])
            else:
                campaign_retry_rules_set(
                    actor=marketer, campaign_id=campaign.pk, rules=[RetrySetting(DispositionCategory.BUSY, 5)]
                )
        except Exception as exc:  # the outcome is asserted below, in the test's thread
            outcome["error"] = exc
        finally:
            connection.close()

    holder = threading.Thread(target=complete_and_hold)
    holder.start()
    assert locked.wait(10)
    writer = threading.Thread(target=change)
    writer.start()
    writer.join(0.5)
    still_waiting = writer.is_alive()
    release.set()
    holder.join(10)
    writer.join(10)

    assert still_waiting, "the write did not wait for the campaign's row lock"
    assert isinstance(outcome.get("error"), InvalidStatusChange)
    assert str(outcome["error"]) == "Campaign Spring is completed: its settings are history."
    assert _state(campaign)["links"] == []
    assert _state(campaign)["rules"] == []
