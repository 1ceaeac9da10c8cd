"""SMS and email campaigns: the throttled send tick, delivery and bounce receipts, the email
unsubscribe, and the STOP/START/HELP replies that write SMS consent.

A send tick (beat, every SEND_TICK_SECONDS, per active SMS or email campaign):
1. locks the campaign row (two ticks of one campaign never overlap; a pause takes effect at the
   next tick) and takes its budget from the campaign's token bucket (below);
2. claims that many due leads from the hopper (SKIP LOCKED);
3. asks the one compliance gate (apps.campaigns.services.gate.contacts_decide) about all of
   them at once; a refused lead is given back: due again at the gate's retry time (outside its
   window, a quiet day), or do-not-contact for a consent or do-not-call refusal;
4. starts a queued attempt for each allowed lead, renders its text, and commits;
5. after commit hands the batch to the provider (Django's email backend on one connection, or
   the messaging gateway): a message taken is "sent" with the provider's id and its lead is
   done; a message refused is failed and its lead retried (attempt_finish's rules).

Attempt states: queued (committed, not yet handed over) -> sent (the provider has it; email
over SMTP usually rests here, as SMTP has no delivery receipt) -> delivered, or failed /
bounced from the provider's receipts (message_status_update). A queued attempt that never
reported back (the worker died between commit and send) is failed after QUEUED_TIMEOUT by
sends_expire_stale, so its lead is retried rather than stuck in progress.

The throttle is a token bucket per campaign: sends_per_minute / 60 tokens a second, holding one
tick's worth (at least one token, so a slow campaign still sends) plus the fraction of a token a
tick could not spend, which carries to the next: a tick sends at most
ceil(sends_per_minute * SEND_TICK_SECONDS / 60), and over time exactly sends_per_minute. A tick
spends one token per message it sends (a refused lead costs nothing).
The bucket lives in the cache, read and written under the campaign's row lock. A cache that lost
it (a restart, a per-process cache) starts it full again, so a second guard counts the
campaign's attempts of the last minute in the database: never more than sends_per_minute in any
60 seconds, whatever the cache.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import make_msgid, parseaddr
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone
from django.utils.html import escape, linebreaks

from apps.accounts.models import User
from apps.accounts.roles import Role, has_role
from apps.campaigns import events, messaging
from apps.campaigns.dialer.hopper import hopper_claim
from apps.campaigns.merge_fields import custom_field_keys, render_message
from apps.campaigns.models import (
    AttemptStatus,
    Campaign,
    CampaignChannel,
    CampaignStatus,
    Lead,
    LeadAttempt,
    LeadStatus,
)
from apps.campaigns.services.attempts import attempt_finish, attempt_start
from apps.campaigns.services.gate import TIME_RULES, contacts_decide
from apps.core.actors import Actor, SystemActor, require_actor
from apps.core.exceptions import DomainError, NotAllowed
from apps.customers.exceptions import InvalidContact
from apps.customers.models import ContactPoint, ContactPointKind
from apps.customers.normalize import normalize_email, normalize_phone
from apps.customers.services.customers import contact_point_set_consent

logger = logging.getLogger(__name__)

SENDER = SystemActor("campaign sender")
"""The send tick and its after-commit delivery act as this."""
UNSUBSCRIBE_LINK = SystemActor("unsubscribe link")
"""A recipient who opened their unsubscribe link (no sign-in: the signed token is the proof)."""

SEND_TICK_SECONDS = 2
"""How often beat runs the send tick; the bucket holds one tick's worth of tokens."""
QUEUED_TIMEOUT = dt.timedelta(minutes=10)
MESSAGE_CHANNELS = (CampaignChannel.SMS, CampaignChannel.EMAIL)
# Gate rules whose refusal ends the lead: the person said no, the number is on a do-not-call
# list, or the person's data was erased.
DO_NOT_CONTACT_RULES = frozenset({"consent", "erased", "dnc_internal", "dnc_campaign", "dnc_national"})
# Gate rules whose refusal means the lead has had all its attempts.
EXHAUSTED_RULES = frozenset({"attempts_lead", "attempts_number"})
# A time rule that found no open moment within its search (a week) is asked again this much later.
NO_WINDOW_RECHECK = dt.timedelta(days=1)
_BUCKET_TTL = 3600
_EPSILON = 1e-6


class InvalidMessageStatus(DomainError):
    """A delivery receipt with a status we do not know. Nothing changed."""

    code = "invalid_message_status"


@dataclass
class SendResult:
    campaign_id: int
    budget: int = 0
    claimed: int = 0
    queued: int = 0
    refused: int = 0
    refusals: dict[str, int] = field(default_factory=dict)
    skipped: str = ""  # why the tick sent nothing without asking (paused, not started, ...)


@dataclass(frozen=True)
class _Outgoing:
    attempt_id: int
    to: str
    subject: str
    text: str
    html: str
    unsubscribe_url: str


# --- the throttle ---------------------------------------------------------------------------


def _bucket_key(campaign_id: int) -> str:
    return f"campaigns:send-bucket:{campaign_id}"


def _bucket_fill(campaign: Campaign, now: dt.datetime) -> float:
    """The tokens available now: the cached bucket refilled since its last tick, or a fresh one
    (one tick's worth, at least one token)."""
    per_second = campaign.sends_per_minute / 60
    per_tick = max(1.0, per_second * SEND_TICK_SECONDS)
    # One tick's worth plus what is left of a token: the fraction a tick could not send carries
    # to the next, so 45 a minute sends 1, 2, 1, 2... and never a whole extra message at once.
    capacity = per_tick + 1 - _EPSILON
    state = cache.get(_bucket_key(campaign.pk))
    if not isinstance(state, dict):
        return per_tick
    try:
        tokens = float(state["tokens"])
        last = dt.datetime.fromisoformat(str(state["at"]))
    except (KeyError, TypeError, ValueError):
        return per_tick
    elapsed = max(0.0, (now - last).total_seconds())
    return min(capacity, tokens + per_second * elapsed)


def _bucket_store(campaign_id: int, tokens: float, now: dt.datetime) -> None:
    cache.set(_bucket_key(campaign_id), {"tokens": tokens, "at": now.isoformat()}, _BUCKET_TTL)


def _sent_last_minute(campaign: Campaign, now: dt.datetime) -> int:
    return LeadAttempt.objects.filter(
        campaign=campaign, started_at__gt=now - dt.timedelta(minutes=1), started_at__lte=now
    ).count()


# --- rendering ------------------------------------------------------------------------------


def public_base_url() -> str:
    """Where recipients reach this installation (the unsubscribe links): settings.PUBLIC_BASE_URL."""
    return str(getattr(settings, "PUBLIC_BASE_URL", "http://localhost:8000")).rstrip("/")


def sms_text(campaign: Campaign, lead: Lead, custom_keys: frozenset[str]) -> str:
    """The campaign's text for this lead, with the opt-out instruction carriers expect unless the
    text gives it already."""
    text = render_message(
        campaign.message_body, customer=lead.customer, lead=lead, campaign=campaign, custom_keys=custom_keys
    ).strip()
    if "STOP" not in text:
        text = f"{text}\nReply STOP to opt out."
    return text


def email_parts(
    campaign: Campaign, lead: Lead, custom_keys: frozenset[str], unsubscribe_url: str
) -> tuple[str, str, str]:
    """(subject, text, html) for this lead. The marketer writes plain text: the HTML version is
    that text escaped (merge values included), paragraphs kept, with the unsubscribe link."""
    subject = render_message(
        campaign.message_subject,
        customer=lead.customer,
        lead=lead,
        campaign=campaign,
        custom_keys=custom_keys,
    )
    subject = " ".join(subject.split())  # a header: no line breaks, whatever a merge value held
    body = render_message(
        campaign.message_body, customer=lead.customer, lead=lead, campaign=campaign, custom_keys=custom_keys
    ).strip()
    text = f"{body}\n\n--\nTo stop receiving these emails, unsubscribe here: {unsubscribe_url}\n"
    html = (
        "<!doctype html><html><body>"
        f"{linebreaks(body, autoescape=True)}"
        '<hr><p style="font-size:12px;color:#64748b">You receive this email from '
        f"{escape(sender_name())}. "
        f'<a href="{escape(unsubscribe_url)}">Unsubscribe</a> from these emails.</p>'
        "</body></html>"
    )
    return subject, text, html


def sender_name() -> str:
    return str(getattr(settings, "MESSAGING_SENDER_NAME", "Switchboard"))


# --- the tick -------------------------------------------------------------------------------


def _release_refused(lead: Lead, rule: str, retry_at: dt.datetime | None, now: dt.datetime) -> None:
    """Give a refused lead back to the hopper in the state the gate's rule calls for."""
    leads = Lead.objects.filter(pk=lead.pk)
    if rule in DO_NOT_CONTACT_RULES:
        leads.update(status=LeadStatus.DNC, next_attempt_at=None, claimed_until=None, updated_at=now)
    elif rule in EXHAUSTED_RULES:
        leads.update(status=LeadStatus.EXHAUSTED, next_attempt_at=None, claimed_until=None, updated_at=now)
    elif retry_at is not None:
        leads.update(next_attempt_at=retry_at, claimed_until=None, updated_at=now)
    elif rule in TIME_RULES:
        leads.update(next_attempt_at=now + NO_WINDOW_RECHECK, claimed_until=None, updated_at=now)
    else:  # the campaign stopped between our lock and the gate's read: the lead waits as it was
        leads.update(claimed_until=None)


def campaign_send_tick(*, campaign_id: int, now: dt.datetime | None = None) -> SendResult:
    """One tick of an active SMS or email campaign (the module docstring says what it does).
    Idempotent in the sense beat needs: a tick that runs twice at once waits for the campaign's
    lock and then finds the bucket spent. Locks: the campaign, then the claimed leads."""
    now = now or timezone.now()
    result = SendResult(campaign_id=campaign_id)
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if campaign is None:
            result.skipped = "no such campaign"
            return result
        if campaign.channel not in MESSAGE_CHANNELS:
            result.skipped = "not an SMS or email campaign"
            return result
        if campaign.status != CampaignStatus.ACTIVE:
            result.skipped = f"campaign is {campaign.status}"
            return result
        if campaign.starts_at and now < campaign.starts_at:
            result.skipped = "campaign has not started"
            return result
        if campaign.ends_at and now >= campaign.ends_at:
            result.skipped = "campaign has ended"
            return result
        tokens = _bucket_fill(campaign, now)
        room = max(0, campaign.sends_per_minute - _sent_last_minute(campaign, now))
        # (a sum of thirds is 0.999...: the epsilon keeps it one whole token)
        result.budget = min(math.floor(tokens + _EPSILON / 1000), room)
        leads = hopper_claim(campaign=campaign, limit=result.budget, now=now)
        result.claimed = len(leads)
        if not leads:
            _bucket_store(campaign.pk, tokens, now)
            return result
        prefetch_related_objects(leads, "customer__organization", "customer__contact_points")
        decisions = contacts_decide(campaign=campaign, leads=leads, channel=campaign.channel, now=now)
        custom_keys = custom_field_keys()
        refusals: Counter[str] = Counter()
        outgoing: list[_Outgoing] = []
        for lead, decision in zip(leads, decisions, strict=True):
            if not decision.allowed:
                refusals[decision.rule] += 1
                _release_refused(lead, decision.rule, decision.retry_at, now)
                continue
            attempt = attempt_start(lead=lead, channel=campaign.channel, status=AttemptStatus.QUEUED, now=now)
            outgoing.append(_outgoing(campaign, lead, attempt, custom_keys))
        result.refused = sum(refusals.values())
        result.refusals = dict(refusals)
        result.queued = len(outgoing)
        _bucket_store(campaign.pk, tokens - len(outgoing), now)
        if outgoing:
            channel = campaign.channel
            from_ = campaign.caller_id
            transaction.on_commit(lambda: _deliver(campaign_id, channel, from_, outgoing))
    return result


def _outgoing(campaign: Campaign, lead: Lead, attempt: LeadAttempt, custom_keys: frozenset[str]) -> _Outgoing:
    if campaign.channel == CampaignChannel.SMS:
        return _Outgoing(attempt.pk, lead.contact, "", sms_text(campaign, lead, custom_keys), "", "")
    from apps.campaigns.unsubscribe import unsubscribe_url

    url = unsubscribe_url(lead_id=lead.pk, contact=lead.contact)
    subject, text, html = email_parts(campaign, lead, custom_keys, url)
    return _Outgoing(attempt.pk, lead.contact, subject, text, html, url)


def _deliver(campaign_id: int, channel: str, from_: str, outgoing: list[_Outgoing]) -> None:
    """After commit: hand each message to its provider, then record what became of it."""
    results: list[tuple[int, str, str]] = []  # (attempt id, provider id, error)
    if channel == CampaignChannel.SMS:
        sms = messaging.gateway()

        def send_sms(item: _Outgoing) -> str:
            return sms.send_sms(item.to, item.text, from_)

        results = [_attempt_send(item, send_sms) for item in outgoing]
    else:
        connection = get_connection()
        try:
            connection.open()
        except Exception as exc:  # any backend's failure to connect: nothing of the batch went out
            logger.warning("campaign email: the mail server refused the connection: %s", exc)
            results = [(item.attempt_id, "", f"mail server unavailable: {exc}") for item in outgoing]
        else:

            def send_email(item: _Outgoing) -> str:
                return _send_email(connection, item)

            try:
                results = [_attempt_send(item, send_email) for item in outgoing]
            finally:
                connection.close()
    messages_record(campaign_id=campaign_id, results=results)


def _attempt_send(item: _Outgoing, send: Callable[[_Outgoing], str]) -> tuple[int, str, str]:
    try:
        return item.attempt_id, send(item), ""
    except Exception as exc:  # a provider's or mail server's refusal of this one message
        logger.warning("campaign send of attempt %s failed: %s", item.attempt_id, exc)
        return item.attempt_id, "", str(exc) or exc.__class__.__name__


def _send_email(connection: Any, item: _Outgoing) -> str:
    from_email = settings.DEFAULT_FROM_EMAIL
    domain = parseaddr(from_email)[1].rpartition("@")[2] or None
    message_id = make_msgid(domain=domain)
    message = EmailMultiAlternatives(
        subject=item.subject,
        body=item.text,
        from_email=from_email,
        to=[item.to],
        connection=connection,
        headers={
            "Message-ID": message_id,
            # RFC 2369 and RFC 8058: the mail client's own unsubscribe button, one click, no page.
            "List-Unsubscribe": f"<{item.unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.attach_alternative(item.html, "text/html")
    message.send(fail_silently=False)
    return message_id


def messages_record(*, campaign_id: int, results: list[tuple[int, str, str]]) -> None:
    """What the providers made of one campaign's batch: (attempt id, provider id, error).
    Taken: the attempt is sent with the provider's id and its lead done. Refused: the attempt
    fails and the lead is retried by attempt_finish. Only a queued attempt changes (a repeated
    record changes nothing). One update per message taken, one for their leads."""
    now = timezone.now()
    taken = [(attempt_id, provider_id) for attempt_id, provider_id, error in results if not error]
    if taken:
        with transaction.atomic():
            sent_ids = [
                attempt_id
                for attempt_id, provider_id in taken
                if LeadAttempt.objects.filter(pk=attempt_id, status=AttemptStatus.QUEUED).update(
                    status=AttemptStatus.SENT, provider_id=provider_id[:100]
                )
            ]
            if sent_ids:
                Lead.objects.filter(lead_attempts__pk__in=sent_ids, status=LeadStatus.IN_PROGRESS).update(
                    status=LeadStatus.DONE, next_attempt_at=None, updated_at=now
                )
                events.campaign_activity(campaign_id)
    for attempt_id, _provider_id, error in results:
        if error:
            attempt_finish(
                actor=SENDER,
                attempt_id=attempt_id,
                status=AttemptStatus.FAILED,
                outcome="send_failed",
                skip_reason=f"not sent: {error}",
            )


def sends_expire_stale(*, now: dt.datetime | None = None) -> int:
    """Queued SMS/email attempts older than QUEUED_TIMEOUT (their worker died between commit
    and send, so nobody knows whether the message went out) are failed, so their leads are
    retried instead of staying in progress. Returns how many."""
    now = now or timezone.now()
    stale = list(
        LeadAttempt.objects.filter(
            status=AttemptStatus.QUEUED,
            channel__in=MESSAGE_CHANNELS,
            ended_at__isnull=True,
            started_at__lt=now - QUEUED_TIMEOUT,
        ).values_list("pk", flat=True)[:500]
    )
    for attempt_id in stale:
        attempt_finish(
            actor=SENDER,
            attempt_id=attempt_id,
            status=AttemptStatus.FAILED,
            outcome="not_sent",
            skip_reason="the send never reported back",
            now=now,
        )
    return len(stale)


def active_message_campaign_ids() -> list[int]:
    return list(
        Campaign.objects.filter(status=CampaignStatus.ACTIVE, channel__in=MESSAGE_CHANNELS)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


# --- delivery receipts ------------------------------------------------------------------------

MESSAGE_STATUSES = ("delivered", "failed", "bounced", "undelivered")


def _check_system_or_admin(actor: Actor, what: str) -> None:
    require_actor(actor)
    if isinstance(actor, SystemActor):
        return
    if isinstance(actor, User) and actor.is_authenticated and has_role(actor, Role.ADMIN):
        return
    raise NotAllowed(f"Only the provider's connector (or an admin) reports {what}.")


def message_status_update(
    *, actor: Actor, provider_id: str, status: str, detail: str = "", now: dt.datetime | None = None
) -> LeadAttempt | None:
    """A provider's receipt for the message it knows as `provider_id`:
    - delivered: the attempt is delivered; its lead stays done;
    - failed / undelivered (a temporary failure: a phone off, a full mailbox): the attempt fails
      and attempt_finish retries the lead after the campaign's delay (or it is exhausted);
    - bounced (a permanent failure: no such mailbox or number): the attempt bounces and the lead
      is invalid. For email the address is also marked opted out of email (source "email hard
      bounce") so no campaign sends to a dead mailbox again, which protects the sender's
      reputation; ContactPoint has no "invalid" flag, and the opt-out shows in the CRM with its
      source, where a person who fixes the mailbox can clear it.
    A lead the recipient unsubscribed (do-not-contact) stays so whatever the receipt says.
    Idempotent and order-safe: once an attempt has its final receipt, later or repeated ones
    change nothing. Returns the attempt, or None when no message has this id (yet: a receipt
    can overtake the send's own record; the connector answers so the provider retries).
    Locks: the lead, then the attempt (attempt_finish's order)."""
    _check_system_or_admin(actor, "message delivery")
    if status not in MESSAGE_STATUSES:
        raise InvalidMessageStatus(f"status: {status!r} is not one of {', '.join(MESSAGE_STATUSES)}.")
    if not provider_id.strip():
        raise InvalidMessageStatus("provider_id: the receipt names no message.")
    now = now or timezone.now()
    found = (
        LeadAttempt.objects.filter(provider_id=provider_id.strip(), channel__in=MESSAGE_CHANNELS)
        .values_list("pk", "lead_id")
        .first()
    )
    if found is None:
        return None
    attempt_id, lead_id = found
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        attempt = LeadAttempt.objects.select_for_update().get(pk=attempt_id)
        if attempt.ended_at is not None:
            return attempt
        if status == "delivered":
            attempt.status = AttemptStatus.DELIVERED
            attempt.outcome = "delivered"
            attempt.ended_at = now
            attempt.save(update_fields=["status", "outcome", "ended_at"])
            events.campaign_activity(lead.campaign_id)
            return attempt
        was_dnc = lead.status == LeadStatus.DNC
        final = AttemptStatus.BOUNCED if status == "bounced" else AttemptStatus.FAILED
        attempt = attempt_finish(
            actor=actor,
            attempt_id=attempt_id,
            status=final,
            outcome=status,
            skip_reason=detail[:200],
            now=now,
        )
        if was_dnc or status == "bounced":
            Lead.objects.filter(pk=lead_id).update(
                status=LeadStatus.DNC if was_dnc else LeadStatus.INVALID,
                next_attempt_at=None,
                claimed_until=None,
                updated_at=now,
            )
        if status == "bounced" and attempt.channel == CampaignChannel.EMAIL:
            for point in ContactPoint.objects.filter(
                kind=ContactPointKind.EMAIL, value=attempt.contact, email_opt_out=False
            ):
                contact_point_set_consent(
                    actor=actor,
                    contact_point=point,
                    consent="email_opt_out",
                    value=True,
                    source="email hard bounce",
                )
    return attempt


# --- email unsubscribe ----------------------------------------------------------------------


def email_unsubscribe(*, actor: Actor, lead_id: int, contact: str) -> bool:
    """The recipient of a campaign email asked to receive no more: their address is opted out
    of email (every campaign's gate refuses it from now on) and this lead is do-not-contact.
    `lead_id` and `contact` come from a signed unsubscribe token, which is the only proof
    asked for. Returns False when it was done already (nothing changes). A lead deleted since
    the email still opts the address out. Locks: the lead, then the contact point."""
    require_actor(actor)
    try:
        address = normalize_email(contact)
    except InvalidContact:
        address = contact.strip().lower()
    changed = False
    with transaction.atomic():
        lead = (
            Lead.objects.select_for_update(of=("self",)).select_related("campaign").filter(pk=lead_id).first()
        )
        source = f"unsubscribe link ({lead.campaign.name})" if lead is not None else "unsubscribe link"
        for point in ContactPoint.objects.filter(kind=ContactPointKind.EMAIL, value=address):
            if not point.email_opt_out:
                contact_point_set_consent(
                    actor=actor, contact_point=point, consent="email_opt_out", value=True, source=source[:100]
                )
                changed = True
        if lead is not None and lead.contact == address and lead.status != LeadStatus.DNC:
            Lead.objects.filter(pk=lead.pk).update(
                status=LeadStatus.DNC, next_attempt_at=None, claimed_until=None, updated_at=timezone.now()
            )
            events.campaign_activity(lead.campaign_id)
            changed = True
    return changed


# --- SMS keywords ---------------------------------------------------------------------------

# CTIA's standard opt-out and opt-in keywords; a reply that is exactly one of them (any case,
# trailing punctuation ignored) is a consent instruction, anything else is a conversation.
STOP_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
SMS_REPLY_SOURCE = "SMS reply"


def stop_reply() -> str:
    return f"{sender_name()}: you are unsubscribed and will receive no more messages. Reply START to resubscribe."


def start_reply() -> str:
    return f"{sender_name()}: you are subscribed to messages again. Reply HELP for help, STOP to opt out."


def help_reply() -> str:
    contact = str(getattr(settings, "MESSAGING_HELP_CONTACT", "")).strip()
    reach = f" For help contact {contact}." if contact else ""
    return f"{sender_name()}: reply STOP to opt out, START to opt back in.{reach} Msg & data rates may apply."


def sms_keyword(body: str) -> str:
    """The keyword a reply is, upper-cased, or "" when it is not exactly one keyword."""
    word = body.strip().rstrip(".!?").strip().upper()
    if word in STOP_KEYWORDS | START_KEYWORDS | HELP_KEYWORDS:
        return word
    return ""


def sms_keyword_receive(*, actor: Actor, from_number: str, to_number: str, body: str) -> str | None:
    """An inbound SMS to one of our numbers. STOP (and its synonyms) revokes the sender's SMS
    consent, START restores it, HELP asks for help. Returns the auto-reply to send back, or None
    when the text is not a keyword (a conversation for an agent; nothing is written). A number we
    hold no contact point for still gets its reply: there is no consent of theirs to record.

    What STOP writes on the number's ContactPoint, each with its time and source:
    - sms_opt_in = False: the SMS consent record itself;
    - do_not_call = True: the compliance gate refuses texts (and calls) on do_not_call, and the
      FCC treats a revocation sent by text as one for our calls and texts alike. START clears it
      again only when our STOP set it (its source is an SMS reply): a do-not-call an agent or a
      list recorded is never lifted by a text.
    Only connectors (system actors) and admins report inbound texts. Locks: the contact point."""
    _check_system_or_admin(actor, "inbound texts")
    keyword = sms_keyword(body)
    if not keyword:
        return None
    if keyword in HELP_KEYWORDS:
        return help_reply()
    opting_in = keyword in START_KEYWORDS
    try:
        number = normalize_phone(from_number)
    except InvalidContact:
        number = ""
    if number:
        source = f"{SMS_REPLY_SOURCE} {keyword} to {to_number.strip() or 'our number'}"[:100]
        with transaction.atomic():
            for point in ContactPoint.objects.select_for_update().filter(
                kind=ContactPointKind.PHONE, value=number
            ):
                contact_point_set_consent(
                    actor=actor, contact_point=point, consent="sms_opt_in", value=opting_in, source=source
                )
                if not opting_in:
                    contact_point_set_consent(
                        actor=actor, contact_point=point, consent="do_not_call", value=True, source=source
                    )
                elif point.do_not_call and point.do_not_call_source.startswith(SMS_REPLY_SOURCE):
                    contact_point_set_consent(
                        actor=actor, contact_point=point, consent="do_not_call", value=False, source=source
                    )
    return start_reply() if opting_in else stop_reply()
