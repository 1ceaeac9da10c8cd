"""What the campaigns add to the agent desk: the lead on a campaign call's screen pop, a callback
disposition with its time in the customer's local time and its owner, the agent's own callbacks
beside their work (soonest first, theirs only), and a past callback time refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from apps.accounts.models import User
from apps.campaigns.dialer import tick
from apps.campaigns.models import AttemptStatus, Campaign, Lead, LeadAttempt, LeadStatus
from apps.core.actors import SYSTEM, SystemActor
from apps.customers.services.customers import ContactInput, customer_create
from apps.interactions import services
from apps.interactions.models import (
    AgentProfile,
    Disposition,
    DispositionCategory,
    DispositionSet,
    Interaction,
    InteractionStatus,
)
from tests.campaigns.factories import LeadFactory, make_voice_campaign
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db(transaction=True)

CONNECTOR = SystemActor("voice connector")
ZONE = "America/Chicago"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _zone_at_noon() -> str:
    offset = (12 - timezone.now().hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def _callback_disposition() -> Disposition:
    return Disposition.objects.create(
        code="call-back",
        label="Call back",
        category=DispositionCategory.CALLBACK,
        is_final=False,
        needs_callback_time=True,
    )


def _on_a_campaign_call() -> tuple[Campaign, AgentProfile, Lead, Interaction]:
    """An agent talking to a previewed lead of a campaign: accepted, dialled, answered, ended."""
    dispositions = DispositionSet.objects.create(name="Outbound")
    dispositions.dispositions.add(_callback_disposition())
    queue = make_queue(channels=["voice"], disposition_set=dispositions)
    campaign = make_voice_campaign(queue=queue, caller_id="+14155550100", name="Winter renewals")
    agent = make_agent(queue)
    customer = customer_create(
        actor=SYSTEM,
        first_name="Grace",
        last_name="Hopper",
        time_zone=ZONE,
        contacts=[ContactInput(kind="phone", value="+13125550199")],
    )
    lead = LeadFactory(
        campaign=campaign,
        customer=customer,
        contact="+13125550199",
        time_zones=[_zone_at_noon()],
        fields={"plan": "Gold"},
    )
    tick.campaign_tick(campaign_id=campaign.pk)
    attempt = LeadAttempt.objects.get(lead=lead)
    assert attempt.interaction_id is not None
    services.interaction_accept(actor=agent.user, interaction_id=attempt.interaction_id)
    services.interaction_preview_dial(actor=agent.user, interaction_id=attempt.interaction_id)
    services.interaction_call_progress(
        actor=CONNECTOR, interaction_id=attempt.interaction_id, outcome="answered"
    )
    interaction = Interaction.objects.get(pk=attempt.interaction_id)
    return campaign, agent, lead, interaction


def test_the_screen_pop_shows_the_lead_and_a_personal_callback_comes_back_to_its_agent() -> None:
    campaign, agent, lead, interaction = _on_a_campaign_call()
    client = _client(agent.user)

    panel = client.get(f"/desk/interactions/{interaction.pk}/").content.decode()
    assert "Winter renewals" in panel and "plan" in panel and "Gold" in panel

    assert client.post(f"/desk/interactions/{interaction.pk}/end/").status_code == 204
    wrap_up = client.get(f"/desk/interactions/{interaction.pk}/").content.decode()
    assert f"the customer's local time ({ZONE})" in wrap_up and "Keep this callback for me" in wrap_up
    tomorrow = (timezone.now().astimezone(ZoneInfo(ZONE)) + dt.timedelta(days=1)).replace(
        hour=10, minute=30, second=0, microsecond=0
    )
    done = client.post(
        f"/desk/interactions/{interaction.pk}/wrap-up/",
        {
            "disposition": Disposition.objects.get(code="call-back").pk,
            "callback_at": tomorrow.strftime("%Y-%m-%dT%H:%M"),
            "callback_personal": "1",
        },
    )

    assert done.status_code == 204, done.content.decode()
    lead.refresh_from_db()
    attempt = LeadAttempt.objects.get(lead=lead)
    # 10:30 typed on the page is 10:30 in Chicago, the customer's zone.
    assert (lead.status, lead.callback_owner_id, lead.callback_at) == (
        LeadStatus.CALLBACK,
        agent.user.pk,
        tomorrow,
    )
    assert lead.next_attempt_at == tomorrow
    assert attempt.status == AttemptStatus.ENDED and attempt.disposition is not None

    page = client.get("/desk/").content.decode()
    assert "My callbacks" in page and "Grace Hopper" in page and "Winter renewals" in page
    assert f"{tomorrow:%a %d %b} 10:30" in page
    other = make_agent(make_queue(channels=["voice"]))
    assert "My callbacks" not in _client(other.user).get("/desk/").content.decode()


def test_a_callback_without_keeping_it_is_for_any_agent_of_the_campaign() -> None:
    _, agent, lead, interaction = _on_a_campaign_call()
    client = _client(agent.user)
    client.post(f"/desk/interactions/{interaction.pk}/end/")
    later = timezone.now().astimezone(ZoneInfo(ZONE)) + dt.timedelta(hours=3)

    done = client.post(
        f"/desk/interactions/{interaction.pk}/wrap-up/",
        {
            "disposition": Disposition.objects.get(code="call-back").pk,
            "callback_at": later.strftime("%Y-%m-%dT%H:%M"),
        },
    )

    assert done.status_code == 204
    lead.refresh_from_db()
    assert (lead.status, lead.callback_owner_id) == (LeadStatus.CALLBACK, None)
    assert "My callbacks" not in client.get("/desk/").content.decode()


def test_a_callback_time_in_the_past_is_refused_and_the_call_stays_in_wrap_up() -> None:
    _, agent, lead, interaction = _on_a_campaign_call()
    client = _client(agent.user)
    client.post(f"/desk/interactions/{interaction.pk}/end/")
    past = timezone.now().astimezone(ZoneInfo(ZONE)) - dt.timedelta(hours=1)

    refused = client.post(
        f"/desk/interactions/{interaction.pk}/wrap-up/",
        {
            "disposition": Disposition.objects.get(code="call-back").pk,
            "callback_at": past.strftime("%Y-%m-%dT%H:%M"),
        },
    )

    assert refused.status_code == 400
    assert "future" in refused.content.decode()
    interaction.refresh_from_db()
    lead.refresh_from_db()
    assert interaction.status == InteractionStatus.WRAP_UP
    assert lead.status == LeadStatus.IN_PROGRESS


def test_the_callbacks_panel_costs_one_query_whatever_the_number_of_callbacks(
    django_assert_max_num_queries: object,
) -> None:
    agent = make_agent(make_queue(channels=["voice"]))
    campaign = make_voice_campaign(name="Renewals")
    soon = timezone.now() + dt.timedelta(hours=1)
    for n in range(20):
        LeadFactory(
            campaign=campaign,
            contact=f"+1312555{n:04d}",
            status=LeadStatus.CALLBACK,
            callback_at=soon + dt.timedelta(minutes=n),
            callback_owner=agent.user,
        )
    from apps.campaigns.desk import MAX_CALLBACKS, callbacks_panel

    with django_assert_max_num_queries(1):  # type: ignore[operator]
        panel = callbacks_panel(agent.user)

    assert panel is not None and len(panel.rows) == MAX_CALLBACKS
    assert f"The next {MAX_CALLBACKS} are shown." in panel.note
