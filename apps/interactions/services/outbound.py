"""Outbound calls: the voice gateway places a call for an interaction (originate) and the
connector reports what the call did (interaction_call_progress); the consent check every
outbound contact passes first.

The seam the campaigns' dialer uses. Preview and progressive dialing reserve an agent before
the call is placed: the agent's voice slot is held from the moment of dialing (their state shows
"reserved"), so routing offers them nothing else and the answered call connects to them at once.
Predictive dialing places calls without an agent: an answered one waits in its queue and the ACD
offers it to the next free agent like an inbound call (its direction stays outbound). A call the
customer does not take (busy, no answer, an answering machine, a failure) ends closed with the
outcome recorded on the interaction (call_outcome), in its event row and as a disposition of the
matching category, which reports and the campaigns' retry rules read.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import User
from apps.core.actors import Actor, SystemActor
from apps.core.exceptions import NotAllowed
from apps.customers.erasure import is_erased_contact
from apps.customers.exceptions import InvalidContact
from apps.customers.models import ContactPoint, ContactPointKind, Customer
from apps.customers.normalize import normalize_contact, normalize_phone
from apps.customers.selectors import find_customer
from apps.interactions import acd, events, voice
from apps.interactions.exceptions import (
    ChannelNotServed,
    ContactRefused,
    InvalidTarget,
    InvalidTransition,
    QueueClosed,
    UnknownAction,
)
from apps.interactions.models import (
    PLACING_STATUSES,
    CallOutcome,
    Channel,
    Direction,
    Disposition,
    DispositionCategory,
    Interaction,
    InteractionStatus,
    Queue,
)
from apps.interactions.services.agents import check_available
from apps.interactions.services.locking import lock_agent_then_interaction
from apps.interactions.services.policy import actor_id, is_own, is_supervision
from apps.interactions.services.transitions import agent_freed

# A call the connector never reports on (a lost status callback) is ended as not answered after
# this long, so a reserved agent is never held for good. Providers give up ringing after about a
# minute (Twilio's default timeout is 60 s); this leaves them time to say so themselves first.
DIAL_TIMEOUT = dt.timedelta(seconds=120)
DIAL_TIMER = SystemActor("dial timer")

PROGRESS = (
    "ringing",
    CallOutcome.ANSWERED,
    CallOutcome.BUSY,
    CallOutcome.NO_ANSWER,
    CallOutcome.MACHINE,
    CallOutcome.FAX,
    CallOutcome.FAILED,
    CallOutcome.MESSAGE,
)
FINAL_OUTCOMES = (
    CallOutcome.BUSY,
    CallOutcome.NO_ANSWER,
    CallOutcome.MACHINE,
    CallOutcome.FAX,
    CallOutcome.FAILED,
    CallOutcome.MESSAGE,
)

# The disposition each outcome that ends the call closes the interaction with (code, label,
# category, final: no retry).
_OUTCOME_DISPOSITIONS = {
    CallOutcome.BUSY: ("busy", "Busy", DispositionCategory.BUSY, False),
    CallOutcome.NO_ANSWER: ("no-answer", "No answer", DispositionCategory.NO_ANSWER, False),
    CallOutcome.MACHINE: ("answering-machine", "Answering machine", DispositionCategory.VOICEMAIL, False),
    CallOutcome.FAX: ("fax-machine", "Fax machine", DispositionCategory.WRONG_NUMBER, True),
    CallOutcome.FAILED: ("call-failed", "Call failed", DispositionCategory.OTHER, False),
    CallOutcome.MESSAGE: ("message-played", "Message played", DispositionCategory.CONTACT_MADE, True),
}

# Channels whose outbound contact a do-not-call flag refuses: calls, and texts to the same phone
# (consent rules such as the TCPA treat an automated text as a call).
_PHONE_CHANNELS = frozenset({Channel.VOICE, Channel.VIDEO, Channel.SMS, Channel.WHATSAPP})


def outbound_consent_check(*, channel: str, contact: str, customer: Customer | None) -> None:
    """Refuse an outbound contact its consent forbids (ContactRefused, nothing written): a call
    or text to a phone marked do-not-call, an email to an address that opted out. The number or
    address is the contact given (normalized), else the customer's primary one of the kind; a
    number or address in the register of erased contact points is refused too (the consent
    records were erased with the person).
    Until the campaigns' compliance gate exists this is the one outbound check; it reads the
    consent at the moment of the contact, not at upload."""
    kind = (
        ContactPointKind.PHONE
        if channel in _PHONE_CHANNELS
        else ContactPointKind.EMAIL
        if channel == Channel.EMAIL
        else None
    )
    if kind is None:
        return
    points = ContactPoint.objects.filter(kind=kind)
    value = ""
    if contact.strip():
        try:
            value = normalize_contact(kind, contact)
        except InvalidContact:
            return  # not a phone or address: nothing our consent records can say about it
        if is_erased_contact(kind, value, normalized=True):
            # The person's consent records went with their data: nobody may say they agreed.
            raise ContactRefused(
                f"{value} belongs to a person whose data was erased: it cannot be contacted "
                "until they give their consent again."
            )
        points = points.filter(value=value)
    elif customer is not None:
        points = points.filter(customer=customer).order_by("-is_primary", "id")[:1]
    else:
        return
    for point in points:
        if kind == ContactPointKind.PHONE and point.do_not_call:
            raise ContactRefused(
                f"{point.value} is on the do-not-call list (since {point.do_not_call_at:%Y-%m-%d}"
                f"{', ' + point.do_not_call_source if point.do_not_call_source else ''}): it cannot be contacted."
                if point.do_not_call_at
                else f"{point.value} is on the do-not-call list: it cannot be contacted."
            )
        if kind == ContactPointKind.EMAIL and point.email_opt_out:
            raise ContactRefused(f"{point.value} opted out of email: it cannot be contacted.")


def _may_originate(actor: Actor, agent_id: int | None) -> None:
    """Supervisors, admins and the system (a campaign's dialer) place calls for anyone; an agent
    places a call only for themself (preview dialing: they clicked dial)."""
    if is_supervision(actor):
        return
    if isinstance(actor, User) and agent_id is not None:
        return  # checked against the locked agent row below
    raise NotAllowed("Only supervisors and admins place calls for others; agents place their own.")


def interaction_originate(
    *,
    actor: Actor,
    queue: Queue,
    to_number: str,
    customer: Customer | None = None,
    agent_id: int | None = None,
    caller_id: str = "",
    subject: str = "",
) -> Interaction:
    """Place an outbound voice call to `to_number` from `queue`, for the reserved agent
    `agent_id` (preview and progressive dialing) or for whoever is free when it is answered
    (predictive). The number is normalized to E.164 (InvalidTarget otherwise) and checked
    against consent (ContactRefused for do-not-call); the queue must be active and serve voice
    (its business hours do not apply: an outbound call is never "missed"). A reserved agent must
    be available, off calls and have a free voice slot (AgentUnavailable otherwise), and keeps
    that slot until the call ends or is answered. The customer is found by number when not
    given. The interaction starts "dialing" with a "dialing" event; the gateway is asked to place
    the call inside the transaction, after the checks (a refusal, VoiceGatewayError, rolls
    everything back and is raised). Locks: the reserved agent's row."""
    _may_originate(actor, agent_id)
    if not queue.is_active:
        raise QueueClosed(f"Queue {queue.name} is switched off.")
    if Channel.VOICE not in (queue.channels or []):
        raise ChannelNotServed(f"Queue {queue.name} does not serve voice.")
    try:
        number = normalize_phone(to_number)
    except InvalidContact as exc:
        raise InvalidTarget(f"{to_number!r} is not a phone number.") from exc
    if caller_id.strip():
        try:
            caller_id = normalize_phone(caller_id)
        except InvalidContact as exc:
            raise InvalidTarget(f"Caller id {caller_id!r} is not a phone number.") from exc
    if customer is None:
        customer = find_customer(number)
    outbound_consent_check(channel=Channel.VOICE, contact=number, customer=customer)
    now = timezone.now()
    with transaction.atomic():
        agent = None
        if agent_id is not None:
            from apps.interactions.models import AgentProfile

            agent = (
                AgentProfile.objects.select_for_update().select_related("user").filter(pk=agent_id).first()
            )
            if agent is None:
                raise InvalidTarget(f"Agent #{agent_id} does not exist.")
            if not (is_supervision(actor) or is_own(actor, agent)):
                raise NotAllowed("Agents place calls only for themselves.")
            check_available(agent, Channel.VOICE)
        interaction = Interaction.objects.create(
            channel=Channel.VOICE,
            direction=Direction.OUTBOUND,
            queue=queue,
            agent=agent,
            customer=customer,
            contact=number,
            caller_id=caller_id,
            subject=subject[:200],
            status=InteractionStatus.DIALING,
            dialed_at=now,
            version=1,
        )
        acd.event_add(
            interaction,
            kind="dialing",
            from_status="",
            at=now,
            actor_id=actor_id(actor),
            data={"to_number": number, "caller_id": caller_id, "reserved_agent": agent_id},
        )
        if agent is not None:
            acd.load_change(agent, Channel.VOICE, +1, assign={"last_offer_at": now})
            acd.agent_refresh_state(agent, now)
            events.agent_changed(agent)
        voice.gateway().originate(interaction, to_number=number, caller_id=caller_id)
        events.interaction_changed(interaction)
    return interaction


def _outcome_disposition(outcome: str) -> Disposition:
    code, label, category, final = _OUTCOME_DISPOSITIONS[CallOutcome(outcome)]
    disposition, _ = Disposition.objects.get_or_create(
        code=code, defaults={"label": label, "category": category, "is_final": final}
    )
    return disposition


def interaction_call_progress(
    *, actor: Actor, interaction_id: int, outcome: str, detail: str = ""
) -> Interaction:
    """What an outbound call did, as the connector's status callback says (a SystemActor; or a
    supervisor correcting by hand): "ringing"; "answered" (with a reserved agent the call is
    active with them at once; without one it waits in its queue and is routed after commit);
    "busy", "no_answer", "machine", "fax" or "failed" (the call ends closed, its outcome recorded,
    a disposition of the matching category set, the reserved agent's slot freed); "message" (an
    agentless broadcast was heard and nobody asked for an agent: the call ends closed like the
    unanswered outcomes, with the final "Message played" disposition). Idempotent and
    order-safe: an outcome that no longer applies (ringing after answered, a second answered, a
    late failure after the call connected) changes nothing and returns the interaction as it is.
    `detail` (the provider's reason) goes into the event row. Locks: its agent, then it."""
    if outcome not in PROGRESS:
        raise UnknownAction(f"{outcome!r} is not a call outcome ({', '.join(PROGRESS)}).")
    if not is_supervision(actor):
        raise NotAllowed("Only the voice connector or a supervisor reports what a call did.")
    now = timezone.now()
    with transaction.atomic():
        agent, interaction = lock_agent_then_interaction(interaction_id)
        if interaction.direction != Direction.OUTBOUND or interaction.channel != Channel.VOICE:
            raise InvalidTransition(f"Interaction #{interaction.pk} is not an outbound call.")
        before = interaction.status
        data = {"outcome": outcome, **({"detail": detail[:500]} if detail else {})}
        fields = ["status", "version", "call_outcome"]
        if outcome == "ringing":
            if before != InteractionStatus.DIALING:
                return interaction
            interaction.status = InteractionStatus.RINGING
            fields.remove("call_outcome")
        elif outcome == CallOutcome.ANSWERED:
            if before not in PLACING_STATUSES:
                return interaction
            interaction.call_outcome = CallOutcome.ANSWERED
            if agent is not None:
                interaction.status = InteractionStatus.ACTIVE
                interaction.accepted_at = now
                fields.append("accepted_at")
            else:
                interaction.status = InteractionStatus.QUEUED
                interaction.queued_at = now
                fields.append("queued_at")
        else:
            # An answered call still waiting for an agent can turn out to be a machine, or drop.
            waiting_answered = (
                before == InteractionStatus.QUEUED and interaction.call_outcome == CallOutcome.ANSWERED
            )
            if before not in PLACING_STATUSES and not waiting_answered:
                return interaction
            interaction.status = InteractionStatus.CLOSED
            interaction.call_outcome = outcome
            interaction.closed_at = now
            interaction.disposition = _outcome_disposition(outcome)
            fields += ["closed_at", "disposition"]
        interaction.version += 1
        interaction.save(update_fields=fields)
        acd.event_add(
            interaction,
            kind="ringing" if outcome == "ringing" else f"call_{outcome}",
            from_status=before,
            at=now,
            actor_id=actor_id(actor),
            data=data,
        )
        if agent is not None:
            if interaction.status == InteractionStatus.CLOSED:
                agent_freed(agent, interaction, now)
            else:
                acd.agent_refresh_state(agent, now)
                events.agent_changed(agent)
        events.interaction_changed(interaction)
        if interaction.status == InteractionStatus.QUEUED:
            acd.after_commit(acd.interaction_look, interaction.pk)
    return interaction


def dials_expire_due(*, now: dt.datetime | None = None) -> int:
    """Calls the connector never reported on within DIAL_TIMEOUT end as not answered (beat), so a
    reserved agent is never held for good by a lost status callback. Returns how many ended."""
    now = now or timezone.now()
    cutoff = now - DIAL_TIMEOUT
    due = list(
        Interaction.objects.filter(status__in=PLACING_STATUSES)
        .filter(Q(dialed_at__lte=cutoff) | Q(dialed_at__isnull=True, created_at__lte=cutoff))
        .values_list("pk", flat=True)[:500]
    )
    ended = 0
    for pk in due:
        result = interaction_call_progress(
            actor=DIAL_TIMER,
            interaction_id=pk,
            outcome=CallOutcome.NO_ANSWER,
            detail="no report from the provider",
        )
        ended += result.call_outcome == CallOutcome.NO_ANSWER
    return ended
