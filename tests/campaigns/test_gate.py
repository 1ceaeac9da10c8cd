"""The compliance gate: each rule refusing and allowing, every zone of a number, both US DST
changes at the window's edges, holidays, retry_at, the log of every decision, and the batch's
bounded query count."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from apps.campaigns.models import (
    AttemptStatus,
    Campaign,
    CampaignChannel,
    CampaignStatus,
    ContactLog,
    DncEntry,
    DncList,
    DncListKind,
    Lead,
    LeadAttempt,
)
from apps.campaigns.services.dnc import dnc_add
from apps.campaigns.services.gate import (
    FREQUENCY_CAP,
    RULE_LABELS,
    RULES,
    Decision,
    GateInputError,
    abandon_rate_30d,
    contact_decide,
    contacts_decide,
    refusals_by_rule,
)
from apps.campaigns.timezones import number_time_zones
from apps.core.actors import SYSTEM
from apps.customers.erasure import erased_contact_digest
from apps.customers.models import ContactPointKind, ErasedContact
from tests.campaigns.factories import CampaignFactory, LeadFactory
from tests.customers.factories import CustomerFactory, EmailFactory, PhoneFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# Thursday 2026-12-03, 20:00 UTC = 12:00 in Los Angeles, 15:00 in New York.
NOON_LA = dt.datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
LA = "America/Los_Angeles"
NEW_YORK = "America/New_York"
# A South Dakota area code that spans Mountain (Denver) and Central (North Dakota/Center) time.
TWO_ZONE_NUMBER = "+16052001234"


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def make_lead(campaign: Campaign, contact: str = "+14155550100", **fields: Any) -> Lead:
    fields.setdefault("time_zones", [LA])
    lead: Lead = LeadFactory(campaign=campaign, contact=contact, **fields)
    return lead


def attempt(
    lead: Lead, *, started_at: dt.datetime, campaign: Campaign | None = None, **fields: Any
) -> LeadAttempt:
    fields.setdefault("channel", CampaignChannel.VOICE)
    fields.setdefault("status", AttemptStatus.ENDED)
    return LeadAttempt.objects.create(
        lead=lead,
        campaign=campaign or lead.campaign,
        contact=lead.contact,
        started_at=started_at,
        **fields,
    )


def decide(campaign: Campaign, lead: Lead, now: dt.datetime, channel: str = "voice") -> Decision:
    return contact_decide(campaign=campaign, lead=lead, channel=channel, now=now)


@pytest.fixture
def campaign() -> Campaign:
    result: Campaign = CampaignFactory()
    return result


# -- allowed, the log, the interface ---------------------------------------------------------


def test_a_lead_inside_its_window_is_allowed_and_logged(campaign: Campaign) -> None:
    # Given a lead in Los Angeles at noon local time
    lead = make_lead(campaign)
    # When the gate decides
    decision = decide(campaign, lead, NOON_LA)
    # Then it is allowed, and the log holds exactly that decision
    assert decision == Decision(
        allowed=True,
        rule="allowed",
        detail="All checks passed in America/Los_Angeles.",
        local_time="2026-12-03 12:00 America/Los_Angeles",
        retry_at=None,
    )
    row = ContactLog.objects.get()
    assert (row.lead_id, row.campaign_id, row.customer_id) == (lead.pk, campaign.pk, lead.customer_id)
    assert (row.channel, row.contact, row.allowed, row.rule) == ("voice", lead.contact, True, "allowed")
    assert row.local_time == "2026-12-03 12:00 America/Los_Angeles"
    assert row.at == NOON_LA


def test_log_false_writes_nothing(campaign: Campaign) -> None:
    lead = make_lead(campaign)
    contact_decide(campaign=campaign, lead=lead, channel="voice", now=NOON_LA, log=False)
    assert ContactLog.objects.count() == 0


def test_an_unknown_channel_is_refused_as_bad_input(campaign: Campaign) -> None:
    lead = make_lead(campaign)
    with pytest.raises(GateInputError, match="channel: 'fax'"):
        decide(campaign, lead, NOON_LA, channel="fax")
    assert ContactLog.objects.count() == 0


def test_every_rule_has_a_label() -> None:
    assert set(RULE_LABELS) == set(RULES)
    assert RULES[0] == "allowed"


def test_every_decision_of_a_batch_is_logged_in_order(campaign: Campaign) -> None:
    # Given three leads: one fine, one on the internal list, one marked do-not-call
    fine = make_lead(campaign, "+14155550101")
    listed = make_lead(campaign, "+14155550102")
    flagged = make_lead(campaign, "+14155550103")
    dnc_add(actor=SYSTEM, number=listed.contact, reason="asked")
    PhoneFactory(value=flagged.contact, do_not_call=True)
    # When the batch is decided
    decisions = contacts_decide(
        campaign=campaign, leads=[fine, listed, flagged], channel="voice", now=NOON_LA
    )
    # Then each lead has its decision, and one log row each
    assert [d.rule for d in decisions] == ["allowed", "dnc_internal", "consent"]
    logged = {row.lead_id: (row.allowed, row.rule) for row in ContactLog.objects.all()}
    assert logged == {
        fine.pk: (True, "allowed"),
        listed.pk: (False, "dnc_internal"),
        flagged.pk: (False, "consent"),
    }


# -- campaign status ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"status": CampaignStatus.PAUSED}, "is paused, not active"),
        ({"status": CampaignStatus.DRAFT}, "is draft, not active"),
        ({"starts_at": at(2026, 12, 4, 0, 0)}, "starts at 2026-12-04 00:00 UTC"),
        ({"ends_at": at(2026, 12, 3, 19, 0)}, "ended at 2026-12-03 19:00 UTC"),
    ],
)
def test_an_inactive_campaign_refuses(fields: dict[str, Any], detail: str) -> None:
    campaign = CampaignFactory(**fields)
    lead = make_lead(campaign)
    decision = decide(campaign, lead, NOON_LA)
    assert (decision.allowed, decision.rule, decision.retry_at) == (False, "campaign_inactive", None)
    assert detail in decision.detail


def test_a_campaign_within_its_dates_allows() -> None:
    campaign = CampaignFactory(starts_at=at(2026, 12, 1, 0, 0), ends_at=at(2026, 12, 31, 0, 0))
    assert decide(campaign, make_lead(campaign), NOON_LA).allowed


# -- consent and the erased register -------------------------------------------------------


@pytest.mark.parametrize("channel", ["voice", "sms"])
def test_a_number_marked_do_not_call_is_refused_for_calls_and_texts(campaign: Campaign, channel: str) -> None:
    lead = make_lead(campaign)
    PhoneFactory(
        value=lead.contact, do_not_call=True, do_not_call_at=at(2026, 5, 1, 0, 0), do_not_call_source="web"
    )
    decision = decide(campaign, lead, NOON_LA, channel=channel)
    assert (decision.allowed, decision.rule, decision.retry_at) == (False, "consent", None)
    assert decision.detail == "+14155550100 is marked do-not-call since 2026-05-01 (web)."


def test_a_number_with_consent_is_allowed(campaign: Campaign) -> None:
    lead = make_lead(campaign)
    PhoneFactory(value=lead.contact, do_not_call=False)
    assert decide(campaign, lead, NOON_LA).allowed


def test_an_address_opted_out_of_email_is_refused_and_another_is_allowed(campaign: Campaign) -> None:
    out = make_lead(campaign, "out@example.com")
    fine = make_lead(campaign, "fine@example.com")
    EmailFactory(value="out@example.com", email_opt_out=True)
    EmailFactory(value="fine@example.com", email_opt_out=False, do_not_call=True)
    decisions = contacts_decide(campaign=campaign, leads=[out, fine], channel="email", now=NOON_LA)
    assert [(d.allowed, d.rule) for d in decisions] == [(False, "consent"), (True, "allowed")]
    assert decisions[0].detail == "out@example.com opted out of email."


@pytest.mark.parametrize(
    ("contact", "kind", "channel"),
    [
        ("+14155550100", ContactPointKind.PHONE, "voice"),
        ("gone@example.com", ContactPointKind.EMAIL, "email"),
    ],
)
def test_an_erased_contact_is_refused(campaign: Campaign, contact: str, kind: str, channel: str) -> None:
    lead = make_lead(campaign, contact)
    ErasedContact.objects.create(
        digest=erased_contact_digest(kind, contact, normalized=True), erased_at=NOON_LA
    )
    decision = decide(campaign, lead, NOON_LA, channel=channel)
    assert (decision.allowed, decision.rule) == (False, "erased")
    other = make_lead(campaign, "+14155550199" if kind == ContactPointKind.PHONE else "kept@example.com")
    assert decide(campaign, other, NOON_LA, channel=channel).allowed


# -- do-not-call lists -----------------------------------------------------------------------


def test_the_internal_list_refuses(campaign: Campaign) -> None:
    lead = make_lead(campaign)
    dnc_add(actor=SYSTEM, number=lead.contact, reason="asked")
    decision = decide(campaign, lead, NOON_LA)
    assert (decision.allowed, decision.rule) == (False, "dnc_internal")
    assert decision.detail == "+14155550100 is on the do-not-call list Internal do-not-call list."


def test_the_campaigns_own_list_refuses_and_another_campaigns_does_not(campaign: Campaign) -> None:
    other = CampaignFactory()
    mine = DncList.objects.create(name="Mine", kind=DncListKind.CAMPAIGN, campaign=campaign)
    theirs = DncList.objects.create(name="Theirs", kind=DncListKind.CAMPAIGN, campaign=other)
    on_mine = make_lead(campaign, "+14155550101")
    on_theirs = make_lead(campaign, "+14155550102")
    DncEntry.objects.create(dnc_list=mine, number=on_mine.contact)
    DncEntry.objects.create(dnc_list=theirs, number=on_theirs.contact)
    decisions = contacts_decide(campaign=campaign, leads=[on_mine, on_theirs], channel="voice", now=NOON_LA)
    assert [(d.allowed, d.rule) for d in decisions] == [(False, "dnc_campaign"), (True, "allowed")]


def test_every_national_list_refuses(campaign: Campaign) -> None:
    first = DncList.objects.create(name="US registry", kind=DncListKind.NATIONAL)
    second = DncList.objects.create(name="Canada registry", kind=DncListKind.NATIONAL)
    a = make_lead(campaign, "+14155550101")
    b = make_lead(campaign, "+14155550102")
    DncEntry.objects.create(dnc_list=first, number=a.contact)
    DncEntry.objects.create(dnc_list=second, number=b.contact)
    decisions = contacts_decide(campaign=campaign, leads=[a, b], channel="voice", now=NOON_LA)
    assert [(d.rule, d.detail) for d in decisions] == [
        ("dnc_national", "+14155550101 is on the do-not-call list US registry."),
        ("dnc_national", "+14155550102 is on the do-not-call list Canada registry."),
    ]


def test_a_number_on_several_lists_reports_the_internal_one_first(campaign: Campaign) -> None:
    lead = make_lead(campaign)
    national = DncList.objects.create(name="US registry", kind=DncListKind.NATIONAL)
    DncEntry.objects.create(dnc_list=national, number=lead.contact)
    dnc_add(actor=SYSTEM, number=lead.contact, reason="asked")
    assert decide(campaign, lead, NOON_LA).rule == "dnc_internal"


def test_do_not_call_lists_do_not_apply_to_email(campaign: Campaign) -> None:
    national = DncList.objects.create(name="US registry", kind=DncListKind.NATIONAL)
    lead = make_lead(campaign, "+14155550100")
    DncEntry.objects.create(dnc_list=national, number=lead.contact)
    assert decide(campaign, lead, NOON_LA, channel="sms").rule == "dnc_national"
    email_lead = make_lead(campaign, "someone@example.com")
    assert decide(campaign, email_lead, NOON_LA, channel="email").allowed


# -- attempt caps ------------------------------------------------------------------------------


def test_a_lead_with_its_attempts_used_up_is_refused() -> None:
    campaign = CampaignFactory(max_attempts_per_lead=5)
    used = make_lead(campaign, "+14155550101", attempts=5)
    left = make_lead(campaign, "+14155550102", attempts=4)
    decisions = contacts_decide(campaign=campaign, leads=[used, left], channel="voice", now=NOON_LA)
    assert [(d.allowed, d.rule, d.retry_at) for d in decisions] == [
        (False, "attempts_lead", None),
        (True, "allowed", None),
    ]
    assert decisions[0].detail == "The lead has had 5 attempts; the campaign allows 5."


def test_a_number_with_its_attempts_in_the_campaign_used_up_is_refused() -> None:
    # Given a number dialled 3 times in this campaign (a week ago) and 5 times in another
    campaign = CampaignFactory(max_attempts_per_number=3, max_attempts_per_lead=10)
    other = CampaignFactory()
    lead = make_lead(campaign, "+14155550101", attempts=3)
    elsewhere = make_lead(other, "+14155550102")
    week_ago = NOON_LA - dt.timedelta(days=7)
    for n in range(3):
        attempt(lead, started_at=week_ago + dt.timedelta(hours=n))
    other_lead = make_lead(other, "+14155550101")
    for n in range(5):
        attempt(other_lead, started_at=week_ago + dt.timedelta(hours=n))
    # Then the campaign's own count refuses it; the other campaign's leads are not counted here
    decision = decide(campaign, lead, NOON_LA)
    assert (decision.rule, decision.retry_at) == ("attempts_number", None)
    assert decision.detail == "+14155550101 has had 3 attempts in this campaign; it allows 3 per number."
    fresh = make_lead(campaign, elsewhere.contact)
    assert decide(campaign, fresh, NOON_LA).allowed


# -- the frequency cap and the abandoned-call quiet period ----------------------------------------


def test_the_frequency_cap_counts_every_campaign_per_channel_and_names_when_it_frees(
    campaign: Campaign,
) -> None:
    # Given FREQUENCY_CAP voice attempts to the number in the last 24 h from other campaigns, and
    # texts that do not count for calls
    assert FREQUENCY_CAP == 3
    lead = make_lead(campaign)
    others = [make_lead(CampaignFactory(), lead.contact) for _ in range(3)]
    times = [NOON_LA - dt.timedelta(hours=h) for h in (20, 10, 2)]
    for other, when in zip(others, times, strict=True):
        attempt(other, started_at=when)
    attempt(others[0], started_at=NOON_LA - dt.timedelta(hours=1), channel="sms")
    # When a call is decided
    decision = decide(campaign, lead, NOON_LA)
    # Then it waits until the oldest of them is 24 h old (in 4 h: 16:00 PST, inside the window)
    assert (decision.allowed, decision.rule) == (False, "frequency_cap")
    assert decision.retry_at == at(2026, 12, 4, 0, 0)
    # A text is capped by texts only: one in 24 h
    assert decide(campaign, lead, NOON_LA, channel="sms").allowed


def test_the_frequency_cap_retry_is_the_oldest_attempt_plus_24_hours_inside_the_window(
    campaign: Campaign,
) -> None:
    lead = make_lead(campaign)
    other = make_lead(CampaignFactory(), lead.contact)
    for hours in (23, 22, 21, 1):
        attempt(other, started_at=NOON_LA - dt.timedelta(hours=hours))
    decision = decide(campaign, lead, NOON_LA)
    # 4 in 24 h: two must age out; the second oldest (22 h ago) does so in 2 h
    assert (decision.rule, decision.retry_at) == ("frequency_cap", NOON_LA + dt.timedelta(hours=2))


def test_two_recent_contacts_pass_the_frequency_cap(campaign: Campaign) -> None:
    lead = make_lead(campaign)
    other = make_lead(CampaignFactory(), lead.contact)
    for hours in (2, 25, 30):
        attempt(other, started_at=NOON_LA - dt.timedelta(hours=hours))
    assert decide(campaign, lead, NOON_LA).allowed


def test_an_abandoned_call_keeps_the_number_quiet_for_72_hours(campaign: Campaign) -> None:
    # Given a call to the number abandoned 2 hours ago (10:00 PST) in another campaign
    lead = make_lead(campaign)
    other = make_lead(CampaignFactory(), lead.contact)
    abandoned = NOON_LA - dt.timedelta(hours=2)
    attempt(
        other,
        started_at=abandoned - dt.timedelta(seconds=30),
        answered_at=abandoned - dt.timedelta(seconds=10),
        ended_at=abandoned,
        status=AttemptStatus.ABANDONED,
    )
    # Then no call until 72 h after the abandon (Sunday 10:00 PST: inside the window)
    decision = decide(campaign, lead, NOON_LA)
    assert (decision.allowed, decision.rule) == (False, "abandon_quiet")
    assert decision.retry_at == abandoned + dt.timedelta(hours=72)
    # And at that moment it passes
    assert decide(campaign, lead, abandoned + dt.timedelta(hours=72)).allowed


def test_an_abandon_older_than_72_hours_no_longer_refuses(campaign: Campaign) -> None:
    lead = make_lead(campaign)
    attempt(lead, started_at=NOON_LA - dt.timedelta(hours=73), status=AttemptStatus.ABANDONED)
    assert decide(campaign, lead, NOON_LA).allowed


# -- the calling window, in every zone -----------------------------------------------------------


def test_outside_the_window_is_refused_until_it_opens(campaign: Campaign) -> None:
    # 08:30 PST on a Thursday; the window opens at 09:00
    lead = make_lead(campaign)
    decision = decide(campaign, lead, at(2026, 12, 3, 16, 30))
    assert (decision.allowed, decision.rule) == (False, "window")
    assert decision.retry_at == at(2026, 12, 3, 17, 0)
    assert decision.local_time == "2026-12-03 08:30 America/Los_Angeles"
    assert "Thu 08:30 America/Los_Angeles" in decision.detail
    # The window's end is exclusive: 20:00 local is closed, the retry the next morning
    late = decide(campaign, lead, at(2026, 12, 4, 4, 0))
    assert (late.rule, late.retry_at) == ("window", at(2026, 12, 4, 17, 0))


def test_closed_days_are_skipped_to_the_next_open_one() -> None:
    # Friday 20:30 PST; the campaign calls on weekdays only: next Monday 09:00 PST
    campaign = CampaignFactory(window_days=["mon", "tue", "wed", "thu", "fri"])
    lead = make_lead(campaign)
    decision = decide(campaign, lead, at(2026, 12, 5, 4, 30))
    assert decision.retry_at == at(2026, 12, 7, 17, 0)
    assert decide(campaign, lead, at(2026, 12, 5, 20, 0)).rule == "window"  # Saturday noon


def test_the_legal_bounds_narrow_a_wider_campaign_window() -> None:
    # Given a campaign asking for 07:00-22:00
    campaign = CampaignFactory(window_start=dt.time(7, 0), window_end=dt.time(22, 0))
    lead = make_lead(campaign)
    # Then 07:30 and 21:30 local are refused, 08:00 and 20:59 allowed
    assert decide(campaign, lead, at(2026, 12, 3, 15, 30)).retry_at == at(2026, 12, 3, 16, 0)
    assert decide(campaign, lead, at(2026, 12, 4, 5, 30)).rule == "window"
    assert decide(campaign, lead, at(2026, 12, 3, 16, 0)).allowed
    assert decide(campaign, lead, at(2026, 12, 4, 4, 59)).allowed


def test_a_number_spanning_two_zones_needs_the_window_open_in_both(campaign: Campaign) -> None:
    # Given a number whose area code spans Mountain and Central time, its zones not on the lead
    zones = number_time_zones(TWO_ZONE_NUMBER)
    assert zones == ["America/Denver", "America/North_Dakota/Center"]
    lead = make_lead(campaign, TWO_ZONE_NUMBER, time_zones=[], customer=CustomerFactory(time_zone=""))
    # When it is 09:30 in Central time but 08:30 in Mountain time
    decision = decide(campaign, lead, at(2026, 12, 3, 15, 30))
    # Then it is refused until the window opens in Mountain time too
    assert (decision.allowed, decision.rule) == (False, "window")
    assert decision.retry_at == at(2026, 12, 3, 16, 0)
    assert (
        decision.local_time == "2026-12-03 08:30 America/Denver;2026-12-03 09:30 America/North_Dakota/Center"
    )
    assert "Thu 08:30 America/Denver" in decision.detail
    assert "North_Dakota" not in decision.detail
    row = ContactLog.objects.get()
    # The log column is short: repeated dates and zone areas are left out there
    assert row.local_time == "2026-12-03 08:30 America/Denver;09:30 North_Dakota/Center"
    # And at the evening edge it closes at 20:00 Central even though Mountain is open
    assert decide(campaign, lead, at(2026, 12, 4, 1, 59)).allowed
    evening = decide(campaign, lead, at(2026, 12, 4, 2, 0))
    assert (evening.rule, evening.retry_at) == ("window", at(2026, 12, 4, 16, 0))


def test_the_lead_zones_win_over_the_number_and_the_fallbacks() -> None:
    campaign = CampaignFactory(time_zone="Asia/Tokyo")
    own = make_lead(campaign, "+14155550101", time_zones=[NEW_YORK])
    customer = make_lead(
        campaign, "+14155550102", time_zones=[], customer=CustomerFactory(time_zone="Europe/Paris")
    )
    unknown = make_lead(campaign, "nobody@example.com", time_zones=[], customer=None)
    decisions = contacts_decide(
        campaign=campaign, leads=[own, customer, unknown], channel="voice", now=NOON_LA
    )
    assert [d.local_time for d in decisions] == [
        "2026-12-03 15:00 America/New_York",
        "2026-12-03 21:00 Europe/Paris",
        "2026-12-04 05:00 Asia/Tokyo",
    ]


# -- DST: both US changes of 2026 at the window's edges --------------------------------------------


def test_spring_forward_opens_the_window_at_0900_daylight_time(campaign: Campaign) -> None:
    # 2026-03-08: New York moves from UTC-5 to UTC-4 at 02:00 local
    lead = make_lead(campaign, "+12125550100", time_zones=[NEW_YORK])
    before = decide(campaign, lead, at(2026, 3, 8, 12, 59))  # 08:59 EDT
    assert (before.rule, before.retry_at) == ("window", at(2026, 3, 8, 13, 0))
    assert before.local_time == "2026-03-08 08:59 America/New_York"
    assert decide(campaign, lead, at(2026, 3, 8, 13, 0)).allowed  # 09:00 EDT
    # The evening before (Saturday 20:30 EST) the retry already lands on daylight time
    saturday = decide(campaign, lead, at(2026, 3, 8, 1, 30))
    assert saturday.retry_at == at(2026, 3, 8, 13, 0)
    # The window closes at 20:00 EDT = 00:00 UTC
    assert decide(campaign, lead, at(2026, 3, 8, 23, 59)).allowed
    closing = decide(campaign, lead, at(2026, 3, 9, 0, 0))
    assert (closing.rule, closing.retry_at) == ("window", at(2026, 3, 9, 13, 0))


def test_fall_back_opens_the_window_at_0900_standard_time(campaign: Campaign) -> None:
    # 2026-11-01: New York moves from UTC-4 to UTC-5 at 02:00 local
    lead = make_lead(campaign, "+12125550100", time_zones=[NEW_YORK])
    # The evening before (Saturday 20:30 EDT): the retry is 09:00 EST = 14:00 UTC
    saturday = decide(campaign, lead, at(2026, 11, 1, 0, 30))
    assert (saturday.rule, saturday.retry_at) == ("window", at(2026, 11, 1, 14, 0))
    # 13:30 UTC is 08:30 EST (it would be 09:30 EDT): still closed
    morning = decide(campaign, lead, at(2026, 11, 1, 13, 30))
    assert (morning.rule, morning.retry_at) == ("window", at(2026, 11, 1, 14, 0))
    assert morning.local_time == "2026-11-01 08:30 America/New_York"
    assert decide(campaign, lead, at(2026, 11, 1, 14, 0)).allowed
    # It closes at 20:00 EST = 01:00 UTC
    assert decide(campaign, lead, at(2026, 11, 2, 0, 59)).allowed
    assert decide(campaign, lead, at(2026, 11, 2, 1, 0)).rule == "window"


# -- holidays --------------------------------------------------------------------------------------


def test_a_public_holiday_in_the_local_date_is_refused_until_the_next_day() -> None:
    campaign = CampaignFactory(holiday_country="US")
    lead = make_lead(campaign)
    # Christmas, noon in Los Angeles: the next open moment is the 26th, 09:00 PST
    decision = decide(campaign, lead, at(2026, 12, 25, 20, 0))
    assert (decision.allowed, decision.rule) == (False, "holiday")
    assert decision.retry_at == at(2026, 12, 26, 17, 0)
    assert (
        decision.detail
        == "Public holiday in the contact's local date: Christmas Day (2026-12-25 America/Los_Angeles)."
    )
    # 00:30 UTC on the 25th is still the 24th, 16:30, in Los Angeles: no holiday there yet
    assert decide(campaign, lead, at(2026, 12, 25, 0, 30)).allowed


def test_a_holiday_of_the_subdivision_only_applies_with_it() -> None:
    # Cesar Chavez Day (31 March) is a California holiday, not a federal one
    california = CampaignFactory(holiday_country="US", holiday_subdivision="CA")
    federal = CampaignFactory(holiday_country="US")
    noon = at(2026, 3, 31, 19, 0)  # 12:00 PDT
    assert decide(california, make_lead(california), noon).rule == "holiday"
    assert decide(federal, make_lead(federal), noon).allowed


def test_a_campaign_without_a_holiday_country_calls_on_holidays(campaign: Campaign) -> None:
    assert decide(campaign, make_lead(campaign), at(2026, 12, 25, 20, 0)).allowed


def test_an_unknown_subdivision_keeps_the_national_holidays() -> None:
    campaign = CampaignFactory(holiday_country="US", holiday_subdivision="ZZ")
    assert decide(campaign, make_lead(campaign), at(2026, 12, 25, 20, 0)).rule == "holiday"
    assert decide(campaign, make_lead(campaign, "+14155550111"), NOON_LA).allowed


def test_an_unknown_holiday_country_refuses_without_a_retry() -> None:
    campaign = CampaignFactory(holiday_country="ZZ")
    decision = decide(campaign, make_lead(campaign), NOON_LA)
    assert (decision.rule, decision.retry_at) == ("holiday", None)
    assert "'ZZ' is unknown" in decision.detail


# -- retry_at across rules ---------------------------------------------------------------------------


def test_retry_at_satisfies_every_time_rule_at_once() -> None:
    # Given an abandon whose quiet period ends on Christmas Eve at 22:00 PST (window closed), then
    # Christmas (a holiday): the earliest moment is the 26th, 09:00 PST
    campaign = CampaignFactory(holiday_country="US")
    lead = make_lead(campaign)
    abandoned = at(2026, 12, 22, 6, 0)
    attempt(lead, started_at=abandoned, ended_at=abandoned, status=AttemptStatus.ABANDONED)
    decision = decide(campaign, lead, at(2026, 12, 23, 20, 0))
    assert (decision.rule, decision.retry_at) == ("abandon_quiet", at(2026, 12, 26, 17, 0))


def test_no_retry_at_when_the_campaign_ends_first() -> None:
    campaign = CampaignFactory(ends_at=at(2026, 12, 3, 16, 45))
    decision = decide(campaign, make_lead(campaign), at(2026, 12, 3, 16, 30))
    assert (decision.rule, decision.retry_at) == ("window", None)
    assert decision.detail.endswith("The campaign ends before it could pass.")


def test_refusals_other_than_time_carry_no_retry(campaign: Campaign) -> None:
    lead = make_lead(campaign)
    dnc_add(actor=SYSTEM, number=lead.contact, reason="asked")
    decision = decide(campaign, lead, at(2026, 12, 3, 16, 30))  # also outside the window
    assert (decision.rule, decision.retry_at) == ("dnc_internal", None)


# -- the batch: constant queries ---------------------------------------------------------------------


def _mixed_batch(campaign: Campaign, size: int) -> list[Lead]:
    national = DncList.objects.create(name=f"National {size}", kind=DncListKind.NATIONAL)
    leads = []
    for n in range(size):
        lead = make_lead(
            campaign,
            f"+141555{size:02d}{n:03d}",
            time_zones=[] if n % 3 == 0 else [LA, NEW_YORK][n % 2 : n % 2 + 1],
        )
        leads.append(lead)
        if n % 5 == 0:
            DncEntry.objects.create(dnc_list=national, number=lead.contact)
        if n % 7 == 0:
            PhoneFactory(value=lead.contact, do_not_call=True)
        if n % 4 == 0:
            attempt(lead, started_at=NOON_LA - dt.timedelta(hours=1))
    return [Lead.objects.get(pk=lead.pk) for lead in leads]


def test_a_batch_of_50_costs_as_many_queries_as_a_batch_of_5(
    campaign: Campaign, django_assert_max_num_queries: Any, django_assert_num_queries: Any
) -> None:
    small = _mixed_batch(campaign, 5)
    large = _mixed_batch(campaign, 50)
    with django_assert_num_queries(7):
        contacts_decide(campaign=campaign, leads=small, channel="voice", now=NOON_LA)
    with django_assert_max_num_queries(7):
        decisions = contacts_decide(campaign=campaign, leads=large, channel="voice", now=NOON_LA)
    assert len(decisions) == 50
    assert ContactLog.objects.filter(campaign=campaign).count() == 55
    refused = {d.rule for d in decisions if not d.allowed}
    assert refused == {"dnc_national", "consent"}


# -- report reads ------------------------------------------------------------------------------------


def test_refusals_by_rule_groups_by_rule_in_rule_order(campaign: Campaign) -> None:
    other = CampaignFactory(status=CampaignStatus.PAUSED)
    listed = make_lead(campaign, "+14155550101")
    dnc_add(actor=SYSTEM, number=listed.contact, reason="asked")
    early = make_lead(campaign, "+14155550102")
    contacts_decide(campaign=campaign, leads=[listed, early], channel="voice", now=at(2026, 12, 3, 16, 30))
    contacts_decide(campaign=campaign, leads=[listed, early], channel="voice", now=NOON_LA)
    contact_decide(campaign=other, lead=make_lead(other), channel="voice", now=NOON_LA)
    assert refusals_by_rule(campaign=campaign, since=at(2026, 12, 1, 0, 0)) == [
        ("dnc_internal", "Internal do-not-call list", 2),
        ("window", "Outside the calling window", 1),
    ]
    assert refusals_by_rule(campaign=None, since=at(2026, 12, 1, 0, 0)) == [
        ("campaign_inactive", "Campaign not active", 1),
        ("dnc_internal", "Internal do-not-call list", 2),
        ("window", "Outside the calling window", 1),
    ]
    assert refusals_by_rule(campaign=campaign, since=at(2026, 12, 3, 17, 0)) == [
        ("dnc_internal", "Internal do-not-call list", 1),
    ]


def test_abandon_rate_over_30_days(campaign: Campaign) -> None:
    lead = make_lead(campaign)
    recent = NOON_LA - dt.timedelta(days=2)
    for _ in range(8):
        attempt(lead, started_at=recent, answered_at=recent, status=AttemptStatus.ENDED)
    attempt(lead, started_at=recent, answered_at=recent, status=AttemptStatus.ABANDONED)
    attempt(lead, started_at=recent, answered_at=recent, status=AttemptStatus.ABANDONED)
    attempt(lead, started_at=recent, status=AttemptStatus.FAILED)
    old = NOON_LA - dt.timedelta(days=31)
    attempt(lead, started_at=old, answered_at=old, status=AttemptStatus.ABANDONED)
    assert abandon_rate_30d(campaign=campaign, now=NOON_LA) == (2, 10, 0.2)
    assert abandon_rate_30d(campaign=CampaignFactory(), now=NOON_LA) == (0, 0, 0.0)
