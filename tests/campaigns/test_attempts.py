"""What an attempt's result makes of its lead: the retry rule's delay, a callback for its owner,
a final state, do-not-call, the 72 hours after an abandoned call, and the attempt caps."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.accounts.models import User
from apps.campaigns.models import AttemptStatus, DncEntry, Lead, LeadAttempt, LeadStatus, RetryRule
from apps.campaigns.services import attempt_finish, attempt_start, internal_list
from apps.core.actors import SystemActor
from apps.customers.models import ContactPoint
from apps.customers.services.customers import ContactInput, customer_create
from apps.interactions.models import Disposition, DispositionCategory
from tests.campaigns.factories import LeadFactory, make_voice_campaign

pytestmark = pytest.mark.django_db

DIALER = SystemActor("dialer")
NOW = dt.datetime(2026, 12, 3, 17, 0, tzinfo=dt.UTC)


def _disposition(code: str, category: str, **fields: object) -> Disposition:
    return Disposition.objects.create(code=code, label=code.title(), category=category, **fields)


def _attempt(lead: Lead) -> LeadAttempt:
    return attempt_start(lead=lead, channel="voice", now=NOW)


def _finish(attempt: LeadAttempt, **kwargs: object) -> Lead:
    attempt_finish(actor=DIALER, attempt_id=attempt.pk, now=NOW, **kwargs)  # type: ignore[arg-type]
    return Lead.objects.get(pk=attempt.lead_id)


def test_starting_an_attempt_counts_it_and_releases_the_claim() -> None:
    lead = LeadFactory(campaign=make_voice_campaign(), claimed_until=NOW + dt.timedelta(minutes=1))

    attempt = _attempt(lead)

    lead.refresh_from_db()
    assert (lead.attempts, lead.status, lead.claimed_until, lead.last_attempt_at) == (
        1,
        LeadStatus.IN_PROGRESS,
        None,
        NOW,
    )
    assert (attempt.contact, attempt.status, attempt.campaign_id) == (
        lead.contact,
        "dialing",
        lead.campaign_id,
    )


def test_a_busy_line_is_retried_after_the_campaigns_rule_else_the_default() -> None:
    campaign = make_voice_campaign()
    RetryRule.objects.create(campaign=campaign, category=DispositionCategory.BUSY, delay_minutes=5)
    busy = _disposition("busy", DispositionCategory.BUSY, is_final=False)
    no_answer = _disposition("no-answer", DispositionCategory.NO_ANSWER, is_final=False)

    first = _finish(_attempt(LeadFactory(campaign=campaign)), status=AttemptStatus.ENDED, disposition=busy)
    second = _finish(
        _attempt(LeadFactory(campaign=campaign)), status=AttemptStatus.ENDED, disposition=no_answer
    )

    assert (first.status, first.next_attempt_at) == (LeadStatus.RETRY, NOW + dt.timedelta(minutes=5))
    assert (second.status, second.next_attempt_at) == (LeadStatus.RETRY, NOW + dt.timedelta(hours=2))


def test_a_rule_for_one_disposition_wins_over_its_category() -> None:
    campaign = make_voice_campaign()
    voicemail = _disposition("left-message", DispositionCategory.VOICEMAIL, is_final=False)
    RetryRule.objects.create(campaign=campaign, category=DispositionCategory.VOICEMAIL, delay_minutes=600)
    RetryRule.objects.create(
        campaign=campaign, category=DispositionCategory.VOICEMAIL, disposition=voicemail, delay_minutes=30
    )

    lead = _finish(
        _attempt(LeadFactory(campaign=campaign)), status=AttemptStatus.ENDED, disposition=voicemail
    )

    assert lead.next_attempt_at == NOW + dt.timedelta(minutes=30)


def test_the_last_allowed_attempt_exhausts_the_lead() -> None:
    campaign = make_voice_campaign(max_attempts_per_lead=2)
    busy = _disposition("busy", DispositionCategory.BUSY, is_final=False)
    lead = LeadFactory(campaign=campaign, attempts=1)

    lead = _finish(_attempt(lead), status=AttemptStatus.ENDED, disposition=busy)

    assert (lead.status, lead.attempts, lead.next_attempt_at) == (LeadStatus.EXHAUSTED, 2, None)


def test_a_rules_own_cap_stops_retrying_that_outcome() -> None:
    campaign = make_voice_campaign()
    no_answer = _disposition("no-answer", DispositionCategory.NO_ANSWER, is_final=False)
    RetryRule.objects.create(
        campaign=campaign, category=DispositionCategory.NO_ANSWER, delay_minutes=60, max_attempts=1
    )

    lead = _finish(
        _attempt(LeadFactory(campaign=campaign)), status=AttemptStatus.ENDED, disposition=no_answer
    )

    assert lead.status == LeadStatus.EXHAUSTED


def test_a_callback_goes_to_its_owner_at_the_time_asked(agent: User) -> None:
    callback = _disposition("call-back", DispositionCategory.CALLBACK, is_final=False)
    at = NOW + dt.timedelta(days=1)

    lead = _finish(
        _attempt(LeadFactory(campaign=make_voice_campaign())),
        status=AttemptStatus.ENDED,
        disposition=callback,
        callback_at=at,
        callback_owner=agent,
    )

    assert (lead.status, lead.callback_at, lead.callback_owner, lead.next_attempt_at) == (
        LeadStatus.CALLBACK,
        at,
        agent,
        at,
    )


def test_a_final_disposition_finishes_the_lead_and_a_wrong_number_makes_it_invalid() -> None:
    sale = _disposition("sale", DispositionCategory.SALE, is_final=True)
    wrong = _disposition("wrong-number", DispositionCategory.WRONG_NUMBER, is_final=True)
    campaign = make_voice_campaign()

    done = _finish(_attempt(LeadFactory(campaign=campaign)), status=AttemptStatus.ENDED, disposition=sale)
    invalid = _finish(_attempt(LeadFactory(campaign=campaign)), status=AttemptStatus.ENDED, disposition=wrong)

    assert (done.status, done.next_attempt_at) == (LeadStatus.DONE, None)
    assert invalid.status == LeadStatus.INVALID


def test_a_do_not_call_disposition_puts_the_number_on_the_internal_list_and_the_crm(agent: User) -> None:
    customer = customer_create(
        actor=agent,
        first_name="Ada",
        last_name="Byron",
        contacts=[ContactInput(kind="phone", value="+14155550123")],
    )
    dnc = _disposition("stop-calling", DispositionCategory.DO_NOT_CALL, is_final=True, marks_dnc=True)
    lead = LeadFactory(campaign=make_voice_campaign(), customer=customer, contact="+14155550123")

    lead = _finish(_attempt(lead), status=AttemptStatus.ENDED, disposition=dnc)

    assert lead.status == LeadStatus.DNC
    assert DncEntry.objects.filter(dnc_list=internal_list(), number="+14155550123").count() == 1
    assert ContactPoint.objects.get(customer=customer, value="+14155550123").do_not_call is True


def test_an_abandoned_call_is_not_dialled_again_within_72_hours() -> None:
    campaign = make_voice_campaign()
    RetryRule.objects.create(campaign=campaign, category=DispositionCategory.OTHER, delay_minutes=10)

    lead = _finish(_attempt(LeadFactory(campaign=campaign)), status=AttemptStatus.ABANDONED)

    assert (lead.status, lead.next_attempt_at) == (LeadStatus.RETRY, NOW + dt.timedelta(hours=72))


def test_finishing_an_attempt_twice_changes_nothing_the_second_time() -> None:
    busy = _disposition("busy", DispositionCategory.BUSY, is_final=False)
    sale = _disposition("sale", DispositionCategory.SALE, is_final=True)
    attempt = _attempt(LeadFactory(campaign=make_voice_campaign()))
    _finish(attempt, status=AttemptStatus.ENDED, disposition=busy)

    lead = _finish(attempt, status=AttemptStatus.ENDED, disposition=sale)

    assert lead.status == LeadStatus.RETRY
    assert LeadAttempt.objects.get(pk=attempt.pk).disposition == busy
    assert timezone.is_aware(LeadAttempt.objects.get(pk=attempt.pk).ended_at)  # type: ignore[arg-type]
