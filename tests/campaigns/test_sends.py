"""SMS and email send ticks: a real SMTP server receives the email with its unsubscribe headers
and link, the throttle holds over several ticks (and without its cache), the gate's refusals
never send, failed sends are retried, and delivery and bounce receipts land once, in any order."""

from __future__ import annotations

import datetime as dt
import email
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.core.cache import cache
from django.db import connection, connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, include, path, reverse
from django.utils import timezone

from apps.accounts.models import User
from apps.campaigns import messaging, tasks_sends
from apps.campaigns.models import (
    AttemptStatus,
    Campaign,
    CampaignChannel,
    CampaignStatus,
    ContactLog,
    Lead,
    LeadAttempt,
    LeadStatus,
)
from apps.campaigns.services.sends import (
    InvalidMessageStatus,
    SendResult,
    campaign_send_tick,
    message_status_update,
    sends_expire_stale,
)
from apps.campaigns.unsubscribe import token_read
from apps.core.actors import SystemActor
from apps.core.exceptions import NotAllowed
from apps.customers.models import ContactPoint
from config import urls as config_urls
from tests.campaigns.factories import CampaignFactory, LeadFactory
from tests.conftest import require_postgres
from tests.customers.factories import CustomerFactory, EmailFactory, OrganizationFactory, PhoneFactory


def _public_urls_mounted() -> bool:
    try:
        reverse("campaigns_public:unsubscribe", args=["x"], urlconf="config.urls")
    except NoReverseMatch:
        return False
    return True


# The project's URLs, with the public unsubscribe pages mounted at /u/ as config.urls does.
urlpatterns = list(config_urls.urlpatterns) + (
    [] if _public_urls_mounted() else [path("u/", include("apps.campaigns.public_urls"))]
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

CONNECTOR = SystemActor("sms connector")
# Thursday 3 December 2026, 12:00 in Los Angeles: inside every campaign's window.
NOW = dt.datetime(2026, 12, 3, 20, 0, tzinfo=dt.UTC)
LA = ["America/Los_Angeles"]
BASE = "https://crm.example.com"


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    cache.clear()  # the token buckets
    messaging.SIMULATOR.clear()
    yield
    cache.clear()
    messaging.SIMULATOR.clear()


def _email_campaign(**fields: Any) -> Campaign:
    fields.setdefault("sends_per_minute", 600)
    fields.setdefault("message_subject", "Your {custom.plan} plan, {first_name}")
    fields.setdefault(
        "message_body", "Dear {first_name},\n\nYour {custom.plan} plan renews soon.\n{campaign.name}"
    )
    return CampaignFactory(channel=CampaignChannel.EMAIL, **fields)


def _sms_campaign(**fields: Any) -> Campaign:
    fields.setdefault("sends_per_minute", 600)
    return CampaignFactory(
        channel=CampaignChannel.SMS,
        caller_id="+14155550100",
        message_body="Hi {first_name}, your plan renews soon.",
        **fields,
    )


def _email_lead(campaign: Campaign, address: str, **customer: Any) -> Lead:
    person = CustomerFactory(**customer)
    EmailFactory(customer=person, value=address)
    return LeadFactory(campaign=campaign, customer=person, contact=address, time_zones=LA)


def _sms_lead(campaign: Campaign, number: str, **customer: Any) -> Lead:
    person = CustomerFactory(**customer)
    PhoneFactory(customer=person, value=number)
    return LeadFactory(campaign=campaign, customer=person, contact=number, time_zones=LA)


def _tick(campaign: Campaign, captured: Any, now: dt.datetime = NOW) -> SendResult:
    with captured(execute=True):
        return campaign_send_tick(campaign_id=campaign.pk, now=now)


# --- a real SMTP server ---------------------------------------------------------------------


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[_Inbox, int]]:
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.mark.django_db(transaction=True)
def test_a_tick_emails_through_smtp_with_one_click_unsubscribe(smtp_server: tuple[_Inbox, int]) -> None:
    # given an active email campaign and one lead, and a real SMTP server on loopback
    inbox, port = smtp_server
    campaign = _email_campaign(name="Winter renewals")
    lead = _email_lead(campaign, "ada@example.org", first_name="Ada", custom_fields={"plan": "<gold> & co"})

    # when the tick runs (the send happens after its transaction commits)
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=port,
        EMAIL_USE_TLS=False,
        EMAIL_TIMEOUT=10,
        DEFAULT_FROM_EMAIL="Acme Insurance <news@acme.example>",
        PUBLIC_BASE_URL=BASE,
    ):
        result = campaign_send_tick(campaign_id=campaign.pk, now=NOW)

    # then the server received one email with the RFC 8058 headers and the link in both bodies
    assert (result.claimed, result.queued, result.refused) == (1, 1, 0)
    assert len(inbox.messages) == 1
    mail_from, rcpt_tos, content = inbox.messages[0]
    assert (mail_from, rcpt_tos) == ("news@acme.example", ["ada@example.org"])
    message = email.message_from_bytes(content, policy=default_policy)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == "Your <gold> & co plan, Ada"
    assert message["From"] == "Acme Insurance <news@acme.example>"
    assert message["To"] == "ada@example.org"
    header = str(message["List-Unsubscribe"]).strip()  # folded onto its own line when long
    assert header.startswith(f"<{BASE}/u/") and header.endswith("/>")
    url = header[1:-1]
    token = url.removeprefix(f"{BASE}/u/").removesuffix("/")
    assert token_read(token).lead_id == lead.pk
    assert token_read(token).contact == "ada@example.org"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    assert text_part is not None and html_part is not None
    text, html = text_part.get_content(), html_part.get_content()
    assert "Dear Ada," in text and "Your <gold> & co plan renews soon." in text
    assert f"unsubscribe here: {url}" in text
    assert "Your &lt;gold&gt; &amp; co plan renews soon." in html and "<gold>" not in html
    assert f'<a href="{url}">Unsubscribe</a>' in html
    # and the attempt is sent under the email's Message-ID, the lead done, the decision logged
    attempt = LeadAttempt.objects.get(lead=lead)
    assert (attempt.status, attempt.channel, attempt.provider_id) == (
        AttemptStatus.SENT,
        "email",
        message["Message-ID"],
    )
    lead.refresh_from_db()
    assert (lead.status, lead.attempts, lead.claimed_until) == (LeadStatus.DONE, 1, None)
    assert list(ContactLog.objects.values_list("lead_id", "allowed", "rule")) == [(lead.pk, True, "allowed")]


@pytest.mark.django_db(transaction=True)
def test_a_mail_server_that_is_down_fails_the_batch_and_retries_it() -> None:
    campaign = _email_campaign()
    lead = _email_lead(campaign, "ada@example.org")

    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=_free_port(),  # nobody listens
        EMAIL_TIMEOUT=5,
    ):
        result = campaign_send_tick(campaign_id=campaign.pk, now=NOW)

    assert result.queued == 1
    attempt = LeadAttempt.objects.get(lead=lead)
    assert (attempt.status, attempt.outcome) == (AttemptStatus.FAILED, "send_failed")
    assert attempt.skip_reason.startswith("not sent: mail server unavailable")
    lead.refresh_from_db()
    assert lead.status == LeadStatus.RETRY
    assert lead.next_attempt_at is not None and lead.next_attempt_at > timezone.now()


# --- the throttle ---------------------------------------------------------------------------


def test_the_throttle_carries_fractions_over_ticks(django_capture_on_commit_callbacks: Any) -> None:
    # given 45 texts a minute (1.5 per 2-second tick) and more leads than that
    campaign = _sms_campaign(sends_per_minute=45)
    for n in range(12):
        _sms_lead(campaign, f"+1415555{n:04d}")

    # when four ticks run two seconds apart
    queued = [
        _tick(campaign, django_capture_on_commit_callbacks, NOW + dt.timedelta(seconds=2 * i)).queued
        for i in range(4)
    ]

    # then they send 1, 2, 1, 2: 6 in 8 seconds, exactly 45 a minute
    assert queued == [1, 2, 1, 2]
    assert len(messaging.SIMULATOR.sent) == 6
    assert LeadAttempt.objects.filter(campaign=campaign).count() == 6
    assert Lead.objects.filter(campaign=campaign, status=LeadStatus.DONE).count() == 6


def test_a_slow_campaign_still_sends_one_at_a_time(django_capture_on_commit_callbacks: Any) -> None:
    campaign = _sms_campaign(sends_per_minute=10)  # one text every 6 seconds
    for n in range(5):
        _sms_lead(campaign, f"+1415555{n:04d}")

    queued = [
        _tick(campaign, django_capture_on_commit_callbacks, NOW + dt.timedelta(seconds=2 * i)).queued
        for i in range(7)
    ]

    assert queued == [1, 0, 0, 1, 0, 0, 1]


def test_a_lost_bucket_never_sends_more_than_the_minute_allows(
    django_capture_on_commit_callbacks: Any,
) -> None:
    campaign = _sms_campaign(sends_per_minute=2)
    for n in range(5):
        _sms_lead(campaign, f"+1415555{n:04d}")

    queued = []
    for i in range(4):
        cache.clear()  # a restarted cache: every tick finds a full bucket
        queued.append(
            _tick(campaign, django_capture_on_commit_callbacks, NOW + dt.timedelta(seconds=2 * i)).queued
        )
    cache.clear()
    after_a_minute = _tick(
        campaign, django_capture_on_commit_callbacks, NOW + dt.timedelta(seconds=61)
    ).queued

    assert queued == [1, 1, 0, 0]
    assert after_a_minute == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ticks_running_at_once_send_each_lead_once_within_one_budget() -> None:
    # given 120 texts a minute (4 per tick) and ten due leads
    require_postgres()
    campaign = _sms_campaign(sends_per_minute=120)
    for n in range(10):
        _sms_lead(campaign, f"+1415555{n:04d}")
    start = threading.Barrier(3)
    queued: list[int] = []
    errors: list[str] = []

    def tick() -> None:
        try:
            start.wait(timeout=10)
            queued.append(campaign_send_tick(campaign_id=campaign.pk, now=NOW).queued)
        except Exception as exc:  # reported below: a thread's failure must fail the test
            errors.append(repr(exc))
        finally:
            connections.close_all()

    # when three workers tick the campaign at the same moment
    threads = [threading.Thread(target=tick) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then one tick's budget went out, each lead once: the others waited for the campaign's lock
    # and found the bucket spent
    assert errors == []
    assert sorted(queued) == [0, 0, 4]
    assert len({message.to for message in messaging.SIMULATOR.sent}) == len(messaging.SIMULATOR.sent) == 4
    assert LeadAttempt.objects.filter(campaign=campaign).count() == 4
    assert Lead.objects.filter(campaign=campaign, attempts__gt=1).count() == 0


def test_a_ticks_queries_grow_only_with_the_attempts_it_writes(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given leads whose texts read their company, custom fields and contact points
    counts = []
    for size in (3, 6):
        cache.clear()
        campaign = _email_campaign(message_body="{full_name} of {company}: {custom.plan} {email} {phone}")
        for n in range(size):
            _email_lead(
                campaign,
                f"p{size}-{n}@example.org",
                custom_fields={"plan": "gold"},
                organization=OrganizationFactory(),
            )

        # when the tick sends them all
        with CaptureQueriesContext(connection) as queries:
            _tick(campaign, django_capture_on_commit_callbacks)
        counts.append(len(queries.captured_queries))

    # then each lead costs its attempt's writes (start: insert, update, two savepoints; sent:
    # one update) and nothing more: rendering reads nothing per lead
    assert counts[1] - counts[0] == 3 * 5
    assert (
        counts[0] <= 21 + 3 * 5
    )  # 21: the tick's fixed reads and writes (the claim's list links among them)


def test_a_paused_campaign_sends_nothing(django_capture_on_commit_callbacks: Any) -> None:
    campaign = _sms_campaign(status=CampaignStatus.PAUSED)
    lead = _sms_lead(campaign, "+14155550001")

    result = _tick(campaign, django_capture_on_commit_callbacks)

    assert (result.skipped, result.claimed, result.queued) == ("campaign is paused", 0, 0)
    lead.refresh_from_db()
    assert (lead.status, lead.claimed_until, lead.attempts) == (LeadStatus.NEW, None, 0)
    assert messaging.SIMULATOR.sent == []
    assert not ContactLog.objects.exists()


# --- the gate -------------------------------------------------------------------------------


def test_an_opted_out_address_is_refused_and_never_emailed(django_capture_on_commit_callbacks: Any) -> None:
    # given two leads, one whose address opted out of email
    campaign = _email_campaign()
    refused = _email_lead(campaign, "no@example.org")
    ContactPoint.objects.filter(value="no@example.org").update(email_opt_out=True)
    allowed = _email_lead(campaign, "yes@example.org")

    # when the tick runs
    result = _tick(campaign, django_capture_on_commit_callbacks)

    # then only the other lead is emailed; the refused one is do-not-contact, with no attempt
    assert (result.claimed, result.queued, result.refused, result.refusals) == (2, 1, 1, {"consent": 1})
    assert [message.to for message in mail.outbox] == [["yes@example.org"]]
    refused.refresh_from_db()
    assert (refused.status, refused.attempts, refused.claimed_until) == (LeadStatus.DNC, 0, None)
    assert not LeadAttempt.objects.filter(lead=refused).exists()
    assert LeadAttempt.objects.get(lead=allowed).status == AttemptStatus.SENT
    assert ContactLog.objects.get(lead=refused).rule == "consent"


def test_outside_the_window_a_lead_waits_for_the_gates_retry_time(
    django_capture_on_commit_callbacks: Any,
) -> None:
    campaign = _sms_campaign()
    lead = _sms_lead(campaign, "+14155550001")
    night = dt.datetime(2026, 12, 3, 11, 0, tzinfo=dt.UTC)  # 03:00 in Los Angeles

    result = _tick(campaign, django_capture_on_commit_callbacks, night)

    assert (result.queued, result.refusals) == (0, {"window": 1})
    assert messaging.SIMULATOR.sent == []
    lead.refresh_from_db()
    # the campaign's window opens at 09:00 local: 17:00 UTC
    assert (lead.status, lead.next_attempt_at, lead.claimed_until, lead.attempts) == (
        LeadStatus.NEW,
        dt.datetime(2026, 12, 3, 17, 0, tzinfo=dt.UTC),
        None,
        0,
    )


def test_an_sms_tick_texts_through_the_gateway(django_capture_on_commit_callbacks: Any) -> None:
    campaign = _sms_campaign()
    lead = _sms_lead(campaign, "+14155550001", first_name="Ada")

    result = _tick(campaign, django_capture_on_commit_callbacks)

    assert result.queued == 1
    [sent] = messaging.SIMULATOR.sent
    assert (sent.to, sent.from_, sent.body) == (
        "+14155550001",
        "+14155550100",
        "Hi Ada, your plan renews soon.\nReply STOP to opt out.",
    )
    attempt = LeadAttempt.objects.get(lead=lead)
    assert (attempt.status, attempt.provider_id, attempt.ended_at) == (
        AttemptStatus.SENT,
        sent.provider_id,
        None,
    )


def test_a_text_the_provider_refuses_is_failed_and_retried(django_capture_on_commit_callbacks: Any) -> None:
    campaign = _sms_campaign()
    lead = _sms_lead(campaign, "+14155550001")
    messaging.SIMULATOR.refuse.add("+14155550001")

    _tick(campaign, django_capture_on_commit_callbacks)

    attempt = LeadAttempt.objects.get(lead=lead)
    assert (attempt.status, attempt.provider_id) == (AttemptStatus.FAILED, "")
    assert attempt.skip_reason == "not sent: The provider refused the message to +14155550001."
    lead.refresh_from_db()
    assert lead.status == LeadStatus.RETRY


def test_a_send_that_never_reported_back_is_failed_after_the_timeout() -> None:
    campaign = _sms_campaign()
    lead = _sms_lead(campaign, "+14155550001")
    # a tick that committed its attempt, whose worker died before sending
    campaign_send_tick(campaign_id=campaign.pk, now=NOW)  # no on_commit runs in this test's transaction
    assert LeadAttempt.objects.get(lead=lead).status == AttemptStatus.QUEUED

    assert sends_expire_stale(now=NOW + dt.timedelta(minutes=5)) == 0
    assert sends_expire_stale(now=NOW + dt.timedelta(minutes=11)) == 1

    attempt = LeadAttempt.objects.get(lead=lead)
    assert (attempt.status, attempt.outcome) == (AttemptStatus.FAILED, "not_sent")
    lead.refresh_from_db()
    assert lead.status == LeadStatus.RETRY


def test_the_beat_task_ticks_every_active_message_campaign(django_capture_on_commit_callbacks: Any) -> None:
    # a zone where it is noon right now, whatever the hour the suite runs
    offset = 12 - timezone.now().hour
    zone = "Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"
    texts, emails, paused = _sms_campaign(), _email_campaign(), _sms_campaign(status=CampaignStatus.PAUSED)
    for campaign, contact in ((texts, "+14155550001"), (paused, "+14155550002")):
        _sms_lead(campaign, contact)
    _email_lead(emails, "ada@example.org")
    Lead.objects.update(time_zones=[zone])

    with django_capture_on_commit_callbacks(execute=True):
        queued = tasks_sends.sends_tick()

    assert queued == 2
    assert [m.to for m in messaging.SIMULATOR.sent] == ["+14155550001"]
    assert [m.to for m in mail.outbox] == [["ada@example.org"]]


# --- delivery and bounce receipts -----------------------------------------------------------


def _sent(campaign: Campaign, lead: Lead, captured: Any) -> LeadAttempt:
    _tick(campaign, captured)
    attempt = LeadAttempt.objects.get(lead=lead)
    assert attempt.status == AttemptStatus.SENT
    return attempt


def test_a_delivery_receipt_ends_the_attempt_once(django_capture_on_commit_callbacks: Any) -> None:
    campaign = _sms_campaign()
    lead = _sms_lead(campaign, "+14155550001")
    attempt = _sent(campaign, lead, django_capture_on_commit_callbacks)
    later = NOW + dt.timedelta(seconds=30)

    message_status_update(actor=CONNECTOR, provider_id=attempt.provider_id, status="delivered", now=later)
    # a repeated receipt, and a late failure after the delivery, change nothing
    message_status_update(actor=CONNECTOR, provider_id=attempt.provider_id, status="delivered")
    message_status_update(actor=CONNECTOR, provider_id=attempt.provider_id, status="failed", detail="late")

    attempt.refresh_from_db()
    assert (attempt.status, attempt.outcome, attempt.ended_at, attempt.skip_reason) == (
        AttemptStatus.DELIVERED,
        "delivered",
        later,
        "",
    )
    lead.refresh_from_db()
    assert lead.status == LeadStatus.DONE


def test_an_undelivered_text_is_retried(django_capture_on_commit_callbacks: Any) -> None:
    campaign = _sms_campaign()
    lead = _sms_lead(campaign, "+14155550001")
    attempt = _sent(campaign, lead, django_capture_on_commit_callbacks)

    message_status_update(
        actor=CONNECTOR,
        provider_id=attempt.provider_id,
        status="undelivered",
        detail="30003 phone off",
        now=NOW,
    )
    message_status_update(actor=CONNECTOR, provider_id=attempt.provider_id, status="delivered")

    attempt.refresh_from_db()
    assert (attempt.status, attempt.outcome, attempt.skip_reason) == (
        AttemptStatus.FAILED,
        "undelivered",
        "30003 phone off",
    )
    lead.refresh_from_db()
    assert (lead.status, lead.next_attempt_at) == (LeadStatus.RETRY, NOW + dt.timedelta(minutes=60))


def test_a_hard_bounce_opts_the_address_out_and_invalidates_the_lead(
    django_capture_on_commit_callbacks: Any,
) -> None:
    campaign = _email_campaign()
    lead = _email_lead(campaign, "gone@example.org")
    attempt = _sent(campaign, lead, django_capture_on_commit_callbacks)

    message_status_update(
        actor=CONNECTOR, provider_id=attempt.provider_id, status="bounced", detail="550 5.1.1 no such user"
    )

    attempt.refresh_from_db()
    assert (attempt.status, attempt.skip_reason) == (AttemptStatus.BOUNCED, "550 5.1.1 no such user")
    lead.refresh_from_db()
    assert (lead.status, lead.next_attempt_at) == (LeadStatus.INVALID, None)
    point = ContactPoint.objects.get(value="gone@example.org")
    assert (point.email_opt_out, point.email_opt_out_source) == (True, "email hard bounce")


def test_a_failure_receipt_keeps_an_unsubscribed_lead_do_not_contact(
    django_capture_on_commit_callbacks: Any,
) -> None:
    campaign = _email_campaign()
    lead = _email_lead(campaign, "ada@example.org")
    attempt = _sent(campaign, lead, django_capture_on_commit_callbacks)
    Lead.objects.filter(pk=lead.pk).update(status=LeadStatus.DNC)

    message_status_update(actor=CONNECTOR, provider_id=attempt.provider_id, status="failed")

    lead.refresh_from_db()
    assert (lead.status, lead.next_attempt_at) == (LeadStatus.DNC, None)


def test_a_receipt_for_an_unknown_message_changes_nothing(django_capture_on_commit_callbacks: Any) -> None:
    campaign = _sms_campaign()
    lead = _sms_lead(campaign, "+14155550001")
    attempt = _sent(campaign, lead, django_capture_on_commit_callbacks)

    assert message_status_update(actor=CONNECTOR, provider_id="sim-unknown", status="delivered") is None

    attempt.refresh_from_db()
    assert (attempt.status, attempt.ended_at) == (AttemptStatus.SENT, None)


def test_a_receipt_with_an_unknown_status_is_refused_naming_the_field(
    django_capture_on_commit_callbacks: Any,
) -> None:
    campaign = _sms_campaign()
    lead = _sms_lead(campaign, "+14155550001")
    attempt = _sent(campaign, lead, django_capture_on_commit_callbacks)

    with pytest.raises(InvalidMessageStatus, match="^status: 'read' is not one of"):
        message_status_update(actor=CONNECTOR, provider_id=attempt.provider_id, status="read")

    attempt.refresh_from_db()
    assert (attempt.status, attempt.ended_at) == (AttemptStatus.SENT, None)


def test_an_agent_cannot_report_a_receipt(django_capture_on_commit_callbacks: Any, agent: User) -> None:
    campaign = _sms_campaign()
    lead = _sms_lead(campaign, "+14155550001")
    attempt = _sent(campaign, lead, django_capture_on_commit_callbacks)

    with pytest.raises(NotAllowed):
        message_status_update(actor=agent, provider_id=attempt.provider_id, status="failed")

    attempt.refresh_from_db()
    assert (attempt.status, attempt.ended_at) == (AttemptStatus.SENT, None)
    lead.refresh_from_db()
    assert lead.status == LeadStatus.DONE
