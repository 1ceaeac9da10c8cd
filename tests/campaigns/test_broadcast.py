"""Agentless broadcasts: the tick places up to the campaign's lines with no agent; the connector
gets the message with the lead's merge fields and the keys' meaning; "press 1" sends the call to
an agent through the ACD; appointment keys write the answer back to the lead; a message heard
ends the lead; a fax ends it as invalid; only the connector reports keys, and twice is once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from apps.campaigns.dialer import tick
from apps.campaigns.exceptions import InvalidCampaign
from apps.campaigns.models import (
    AttemptStatus,
    BroadcastAction,
    Campaign,
    DialMode,
    Lead,
    LeadAttempt,
    LeadStatus,
)
from apps.campaigns.services.broadcast import NotABroadcast, broadcast_keys, broadcast_script
from apps.campaigns.services.campaigns import campaign_update
from apps.core.actors import SystemActor
from apps.core.exceptions import NotAllowed
from apps.customers.services.customers import ContactInput, customer_create
from apps.interactions import services
from apps.interactions.models import CallOutcome, Interaction, InteractionStatus
from tests.campaigns.factories import LeadFactory, make_voice_campaign
from tests.interactions.factories import make_agent

pytestmark = pytest.mark.django_db(transaction=True)

CONNECTOR = SystemActor("voice connector")
MARKETING = SystemActor("marketing test")


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _zone_at_noon() -> str:
    offset = (12 - timezone.now().hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def _broadcast(action: str, **fields: Any) -> Campaign:
    return make_voice_campaign(
        dial_mode=DialMode.BROADCAST,
        broadcast_action=action,
        message_body="Hello {first_name}, this is {campaign.name} about your visit on {lead.visit}.",
        caller_id="+14155550100",
        name="Dental reminders",
        **fields,
    )


def _lead(campaign: Campaign, n: int = 0) -> Lead:
    customer = customer_create(
        actor=MARKETING,
        first_name="Ada",
        last_name="Lovelace",
        contacts=[ContactInput(kind="phone", value=f"+1415555{n:04d}")],
    )
    return LeadFactory(
        campaign=campaign,
        customer=customer,
        contact=f"+1415555{n:04d}",
        time_zones=[_zone_at_noon()],
        fields={"visit": "Monday 9:00"},
    )


def _placed(campaign: Campaign) -> list[LeadAttempt]:
    return list(LeadAttempt.objects.filter(campaign=campaign).select_related("interaction").order_by("id"))


def test_the_tick_places_up_to_the_broadcast_lines_with_no_agent() -> None:
    campaign = _broadcast(BroadcastAction.MESSAGE_ONLY, broadcast_lines=3)
    for n in range(5):
        _lead(campaign, n)

    first = tick.campaign_tick(campaign_id=campaign.pk)

    assert (first.lines, first.dialled) == (3, 3)
    for attempt in _placed(campaign):
        assert attempt.interaction is not None
        assert (attempt.interaction.status, attempt.interaction.agent_id) == (InteractionStatus.DIALING, None)
    # Three calls are still being placed: no line is free.
    assert tick.campaign_tick(campaign_id=campaign.pk).dialled == 0
    ended = _placed(campaign)[0]
    assert ended.interaction_id is not None
    services.interaction_call_progress(
        actor=CONNECTOR, interaction_id=ended.interaction_id, outcome="no_answer"
    )
    assert tick.campaign_tick(campaign_id=campaign.pk).dialled == 1


def test_the_connector_gets_the_message_filled_for_the_lead_and_the_keys() -> None:
    campaign = _broadcast(BroadcastAction.APPOINTMENT)
    _lead(campaign)
    tick.campaign_tick(campaign_id=campaign.pk)
    (attempt,) = _placed(campaign)
    assert attempt.interaction_id is not None

    script = broadcast_script(interaction_id=attempt.interaction_id)

    assert script.text == "Hello Ada, this is Dental reminders about your visit on Monday 9:00."
    assert script.prompts == {"1": "Press 1 to confirm your appointment.", "2": "Press 2 to cancel it."}
    other = Interaction.objects.create(channel="voice", direction="outbound", contact="+14155550000")
    with pytest.raises(NotABroadcast):
        broadcast_script(interaction_id=other.pk)


def test_press_one_sends_the_call_to_an_agent_of_the_queue() -> None:
    campaign = _broadcast(BroadcastAction.PRESS_ONE)
    assert campaign.queue is not None
    agent = make_agent(campaign.queue)
    lead = _lead(campaign)
    tick.campaign_tick(campaign_id=campaign.pk)
    (attempt,) = _placed(campaign)
    assert attempt.interaction_id is not None

    assert broadcast_keys(actor=CONNECTOR, interaction_id=attempt.interaction_id, keys="1") == "agent"

    interaction = Interaction.objects.get(pk=attempt.interaction_id)
    assert (interaction.call_outcome, interaction.status, interaction.agent_id) == (
        CallOutcome.ANSWERED,
        InteractionStatus.OFFERED,
        agent.pk,
    )
    lead.refresh_from_db()
    assert lead.status == LeadStatus.IN_PROGRESS


def test_appointment_keys_write_the_answer_back_and_the_lead_is_done() -> None:
    campaign = _broadcast(BroadcastAction.APPOINTMENT)
    confirmed, cancelled = _lead(campaign, 1), _lead(campaign, 2)
    tick.campaign_tick(campaign_id=campaign.pk)
    by_lead = {attempt.lead_id: attempt for attempt in _placed(campaign)}

    for lead, key, answer in ((confirmed, "1#", "confirmed"), (cancelled, "2", "cancelled")):
        interaction_id = by_lead[lead.pk].interaction_id
        assert interaction_id is not None
        assert broadcast_keys(actor=CONNECTOR, interaction_id=interaction_id, keys=key) == answer
        lead.refresh_from_db()
        attempt = LeadAttempt.objects.get(pk=by_lead[lead.pk].pk)
        assert (lead.appointment_answer, lead.status) == (answer, LeadStatus.DONE)
        assert attempt.status == AttemptStatus.ENDED and attempt.outcome == CallOutcome.MESSAGE
        assert attempt.answered_at is not None
        interaction = Interaction.objects.get(pk=interaction_id)
        assert (interaction.status, interaction.call_outcome) == (
            InteractionStatus.CLOSED,
            CallOutcome.MESSAGE,
        )
        # Reported twice: nothing more happens.
        assert broadcast_keys(actor=CONNECTOR, interaction_id=interaction_id, keys=key) == "ignored"


def test_a_message_heard_without_a_key_ends_the_lead_and_a_fax_makes_it_invalid() -> None:
    campaign = _broadcast(BroadcastAction.MESSAGE_ONLY)
    heard, fax = _lead(campaign, 1), _lead(campaign, 2)
    tick.campaign_tick(campaign_id=campaign.pk)
    by_lead = {attempt.lead_id: attempt.interaction_id for attempt in _placed(campaign)}
    heard_call, fax_call = by_lead[heard.pk], by_lead[fax.pk]
    assert heard_call is not None and fax_call is not None

    assert broadcast_keys(actor=CONNECTOR, interaction_id=heard_call, keys="") == "heard"
    services.interaction_call_progress(actor=CONNECTOR, interaction_id=fax_call, outcome="fax")

    heard.refresh_from_db()
    fax.refresh_from_db()
    assert heard.status == LeadStatus.DONE
    assert fax.status == LeadStatus.INVALID


def test_only_the_connector_reports_keys() -> None:
    campaign = _broadcast(BroadcastAction.PRESS_ONE)
    _lead(campaign)
    tick.campaign_tick(campaign_id=campaign.pk)
    (attempt,) = _placed(campaign)
    assert campaign.queue is not None
    person = make_agent(campaign.queue).user
    assert attempt.interaction_id is not None

    with pytest.raises(NotAllowed):
        broadcast_keys(actor=person, interaction_id=attempt.interaction_id, keys="1")

    assert Interaction.objects.get(pk=attempt.interaction_id).status == InteractionStatus.DIALING


def test_broadcast_lines_are_bounded() -> None:
    campaign = _broadcast(BroadcastAction.MESSAGE_ONLY)

    with pytest.raises(InvalidCampaign, match="broadcast_lines"):
        campaign_update(actor=MARKETING, campaign_id=campaign.pk, broadcast_lines=0)
