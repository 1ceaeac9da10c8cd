"""STOP, START and HELP replies: STOP revokes SMS consent (and the SMS campaign's next tick is
refused by the gate), START restores it, HELP answers, and anything else is a conversation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

from apps.accounts.models import User
from apps.campaigns import messaging
from apps.campaigns.models import CampaignChannel, Lead, LeadAttempt, LeadStatus
from apps.campaigns.services.sends import (
    campaign_send_tick,
    help_reply,
    sms_keyword_receive,
    start_reply,
    stop_reply,
)
from apps.core.actors import SystemActor
from apps.core.exceptions import NotAllowed
from apps.customers.models import ContactPoint
from apps.customers.services.customers import contact_point_set_consent
from tests.campaigns.factories import CampaignFactory, LeadFactory
from tests.customers.factories import PhoneFactory

pytestmark = pytest.mark.django_db

CONNECTOR = SystemActor("sms connector")
NUMBER = "+14155550134"
OURS = "+14155550100"
NOW = dt.datetime(2026, 12, 3, 20, 0, tzinfo=dt.UTC)  # noon in Los Angeles


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    cache.clear()
    messaging.SIMULATOR.clear()
    yield
    cache.clear()
    messaging.SIMULATOR.clear()


@pytest.fixture
def point() -> ContactPoint:
    phone = PhoneFactory(value=NUMBER)
    return contact_point_set_consent(
        actor=CONNECTOR, contact_point=phone, consent="sms_opt_in", value=True, source="web form"
    )


def _consent(point: ContactPoint) -> tuple[bool, str, bool, str]:
    point.refresh_from_db()
    return point.sms_opt_in, point.sms_opt_in_source, point.do_not_call, point.do_not_call_source


def _receive(body: str, from_number: str = NUMBER) -> str | None:
    return sms_keyword_receive(actor=CONNECTOR, from_number=from_number, to_number=OURS, body=body)


def test_stop_revokes_sms_consent_and_replies(point: ContactPoint) -> None:
    reply = _receive("STOP")

    assert reply == stop_reply()
    assert "unsubscribed" in reply and "Reply START" in reply
    source = f"SMS reply STOP to {OURS}"
    assert _consent(point) == (False, source, True, source)


@pytest.mark.parametrize("body", ["stop", " Stop. ", "STOPALL", "unsubscribe", "Cancel!", "end", "QUIT"])
def test_every_stop_keyword_revokes_consent(point: ContactPoint, body: str) -> None:
    assert _receive(body) == stop_reply()

    assert _consent(point)[0::2] == (False, True)


def test_stop_then_the_sms_campaigns_next_tick_is_refused(
    point: ContactPoint, django_capture_on_commit_callbacks: Any
) -> None:
    # given an active SMS campaign with this number as a lead
    campaign = CampaignFactory(
        channel=CampaignChannel.SMS, message_body="Hi {first_name}", sends_per_minute=600
    )
    lead = LeadFactory(
        campaign=campaign, customer=point.customer, contact=NUMBER, time_zones=["America/Los_Angeles"]
    )

    # when the customer texts STOP and the campaign ticks
    _receive("STOP")
    with django_capture_on_commit_callbacks(execute=True):
        result = campaign_send_tick(campaign_id=campaign.pk, now=NOW)

    # then the gate refuses on consent, nothing is texted, and the lead is do-not-contact
    assert (result.claimed, result.queued, result.refusals) == (1, 0, {"consent": 1})
    assert messaging.SIMULATOR.sent == []
    assert not LeadAttempt.objects.exists()
    lead.refresh_from_db()
    assert lead.status == LeadStatus.DNC


@pytest.mark.parametrize("body", ["START", "unstop", "Yes"])
def test_start_restores_consent_and_lifts_the_stop(point: ContactPoint, body: str) -> None:
    _receive("STOP")

    reply = _receive(body)

    assert reply == start_reply()
    source = f"SMS reply {body.upper()} to {OURS}"
    assert _consent(point) == (True, source, False, source)


def test_start_never_lifts_a_do_not_call_someone_else_recorded(point: ContactPoint, agent: User) -> None:
    contact_point_set_consent(
        actor=agent, contact_point=point, consent="do_not_call", value=True, source="agent call"
    )
    _receive("STOP")

    _receive("START")

    assert _consent(point) == (True, f"SMS reply START to {OURS}", True, "agent call")


def test_help_answers_and_changes_nothing(point: ContactPoint, settings: Any) -> None:
    settings.MESSAGING_SENDER_NAME = "Acme Insurance"
    settings.MESSAGING_HELP_CONTACT = "+1 800 555 0100"

    reply = _receive("help")

    assert reply == help_reply()
    assert reply == (
        "Acme Insurance: reply STOP to opt out, START to opt back in. For help contact +1 800 555 0100. "
        "Msg & data rates may apply."
    )
    assert _consent(point) == (True, "web form", False, "")


@pytest.mark.parametrize("body", ["stop calling me at work", "Can you help me?", "", "   ", "STOP STOP"])
def test_a_conversation_is_not_a_keyword(point: ContactPoint, body: str) -> None:
    assert _receive(body) is None

    assert _consent(point) == (True, "web form", False, "")


def test_a_stop_from_a_number_we_do_not_hold_is_still_answered(point: ContactPoint) -> None:
    reply = _receive("STOP", from_number="+14155559999")

    assert reply == stop_reply()
    assert _consent(point) == (True, "web form", False, "")
    assert not ContactPoint.objects.filter(value="+14155559999").exists()


def test_a_number_in_another_format_is_recognised(point: ContactPoint) -> None:
    _receive("STOP", from_number="(415) 555-0134")

    assert _consent(point)[0::2] == (False, True)


def test_an_agent_cannot_report_an_inbound_text(point: ContactPoint, agent: User) -> None:
    with pytest.raises(NotAllowed):
        sms_keyword_receive(actor=agent, from_number=NUMBER, to_number=OURS, body="STOP")

    assert _consent(point) == (True, "web form", False, "")
    assert Lead.objects.count() == 0
