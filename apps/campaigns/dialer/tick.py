"""The dialer's tick: what beat runs every 2 seconds for each active voice campaign dialled by
the system (progressive, power, predictive; agentless broadcasts, apps.campaigns.dialer.broadcast)
or previewed by its agents (preview: the tick fills the queue with previews,
apps.campaigns.dialer.preview, and the agents dial them).

One tick of a campaign:
1. reads the campaign under its row lock: nothing when it is not active (paused, draft,
   completed) or not started yet; completed by the system when past its end;
2. measures the pacing input (PacingInput) from the database: the queue's free agents, agents
   in wrap-up or near the end of their call, calls being placed and answered calls waiting, the
   last hour's answer rate and handle time, the 30 days' abandon rate;
3. claims as many leads as pacing says (hopper_claim, SKIP LOCKED) and asks the compliance gate
   about them (contacts_decide, which logs every decision);
4. gives back the refused ones (due again when the gate says a time rule lifts, do-not-call for
   a consent or list refusal, exhausted at the attempt caps);
5. places each allowed call in a transaction of its own that first re-reads the campaign's status
   under its lock (a pause committed before it stops it; a pause waiting for it follows it),
   calls interactions' interaction_originate (a reserved agent in progressive mode and for a
   personal callback, none otherwise) and records the attempt (attempt_start); a refusal of the
   call (do-not-call found at the last moment, the agent taken meanwhile, the voice gateway
   failing) gives the lead back and the tick goes on.

Two ticks of one campaign at once (an overlapping beat, two workers) never dial one lead: the
claim is taken with SKIP LOCKED, and the dial re-checks the claim under the lead's lock. The beat
task keeps one tick per campaign at a time anyway (a cache lock), so that pacing measures what
the previous tick placed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Avg, Count, DurationField, Exists, ExpressionWrapper, F, OuterRef, Q
from django.utils import timezone

from apps.campaigns.dialer import pacing
from apps.campaigns.dialer.hopper import hopper_claim, hopper_release
from apps.campaigns.models import (
    DIALLABLE_STATUSES,
    Campaign,
    CampaignChannel,
    CampaignStatus,
    DialMode,
    Lead,
    LeadAttempt,
    LeadStatus,
)
from apps.campaigns.services.attempts import attempt_start
from apps.campaigns.services.campaigns import campaign_set_status
from apps.core.actors import SystemActor
from apps.core.exceptions import DomainError
from apps.interactions.acd import eligible_agents
from apps.interactions.exceptions import (
    ChannelNotServed,
    ContactRefused,
    InvalidTarget,
    QueueClosed,
)
from apps.interactions.models import (
    PLACING_STATUSES,
    AgentProfile,
    AgentState,
    CallOutcome,
    Channel,
    Interaction,
    InteractionStatus,
    Presence,
)
from apps.interactions.services.outbound import interaction_originate

logger = logging.getLogger(__name__)

DIALER = SystemActor("dialer")

# The dial modes this tick places calls (or previews) for.
TICKED_MODES = (
    DialMode.PREVIEW,
    DialMode.PROGRESSIVE,
    DialMode.POWER,
    DialMode.PREDICTIVE,
    DialMode.BROADCAST,
)
# The window the answer rate and the handle time are measured over, and the fewest calls each
# needs before it replaces PacingInput's default (a new campaign paces on the defaults).
RECENT = dt.timedelta(hours=1)
MIN_FINISHED_CALLS = 20
MIN_HANDLED_CALLS = 5
# The 30 days' abandon rate moves slowly and reads a month of attempts: read once a minute.
ABANDON_RATE_SECONDS = 60
# A refusal that time lifts but for which the gate found no moment (the campaign ends first, no
# open window in the week ahead): the hopper leaves the lead alone this long.
NO_RETRY_BACKOFF = dt.timedelta(hours=1)
# One tick per campaign at a time from beat (the cache lock's lifetime: a tick that died frees it).
TICK_LOCK_SECONDS = 30

# Gate rules that make the lead do-not-call, and the ones that mean it has no attempts left.
DNC_RULES = frozenset({"erased", "consent", "dnc_internal", "dnc_campaign", "dnc_national"})
EXHAUSTED_RULES = frozenset({"attempts_lead", "attempts_number"})


@dataclass
class TickResult:
    """What one tick of one campaign did. claimed = dialled + previewed + released; refused (by
    the compliance gate) are among the released. previewed: previews queued for the agents of a
    preview campaign (no call placed yet)."""

    campaign_id: int
    lines: int = 0
    claimed: int = 0
    dialled: int = 0
    previewed: int = 0
    refused: int = 0
    released: int = 0
    completed: bool = False
    skipped: str = ""
    """Why the tick placed nothing at all ("paused", "not started", ...), else empty."""
    interaction_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Measured:
    """The pacing input and the free agents it counted, best first in the queue's routing order
    (AgentProfile id, User id): progressive calls reserve them in that order."""

    pacing: pacing.PacingInput
    free_agents: list[tuple[int, int]]


def _abandon_figures(campaign: Campaign, now: dt.datetime) -> tuple[int, float]:
    """(answered calls, abandoned / answered) over the 30 days, read once a minute."""
    from apps.campaigns.services.gate import abandon_rate_30d

    key = f"campaigns:dialer:abandon-30d:{campaign.pk}:{campaign.created_at.timestamp():.0f}"
    figures = cache.get(key)
    if figures is None:
        _, answered, rate = abandon_rate_30d(campaign=campaign, now=now)
        figures = (answered, rate)
        cache.set(key, figures, ABANDON_RATE_SECONDS)
    return int(figures[0]), float(figures[1])


def pacing_measure(*, campaign: Campaign, now: dt.datetime) -> Measured:
    """The campaign's PacingInput now, from the database (reads only, no locks; a constant
    number of queries whatever the campaign's size):
    - agents_free: agents of the campaign's queue routing would offer a voice call now
      (available, off calls, a free voice slot, the queue's skills);
    - agents_soon_free: agents of the queue in wrap-up, or on a call of this queue longer than the
      handle time less the ring time (predictive mode only: the others dial for free agents);
    - calls_placing: this campaign's calls being placed (dialing, ringing) with no reserved agent;
    - calls_waiting: this campaign's answered calls waiting in the queue for an agent;
    - answer_rate: answered / finished calls of the last hour (PacingInput's default with fewer
      than MIN_FINISHED_CALLS), avg_handle_seconds: talk plus wrap-up of the last hour's
      connected calls (default with fewer than MIN_HANDLED_CALLS);
    - abandon_rate: abandoned / answered over 30 days (the gate's figure, read once a minute),
      and answered, the answered calls it is over (predictive mode only);
    - placing_ages (predictive mode only): seconds since each call counted in calls_placing
      was placed (the controller counts a call that rang long as less likely to be answered)."""
    mode = campaign.dial_mode
    defaults = pacing.PacingInput(mode=mode, agents_free=0)
    queue = campaign.queue
    free: list[tuple[int, int]] = []
    if queue is not None and queue.is_active:
        free = [
            (int(pk), int(user_id))
            for pk, user_id in eligible_agents(Interaction(channel=Channel.VOICE), queue).values_list(
                "pk", "user_id"
            )
        ]
    handle_time = ExpressionWrapper(
        F("interaction__closed_at") - F("interaction__accepted_at"), output_field=DurationField()
    )
    connected = Q(interaction__accepted_at__isnull=False, interaction__closed_at__isnull=False)
    figures = LeadAttempt.objects.filter(campaign_id=campaign.pk, started_at__gte=now - RECENT).aggregate(
        placing=Count(
            "id", filter=Q(interaction__status__in=PLACING_STATUSES, interaction__agent__isnull=True)
        ),
        waiting=Count(
            "id",
            filter=Q(
                interaction__status=InteractionStatus.QUEUED, interaction__call_outcome=CallOutcome.ANSWERED
            ),
        ),
        finished=Count(
            "id", filter=Q(interaction__isnull=False) & ~Q(interaction__status__in=PLACING_STATUSES)
        ),
        answered=Count("id", filter=Q(interaction__call_outcome=CallOutcome.ANSWERED)),
        handled=Count("id", filter=connected),
        handle=Avg(handle_time, filter=connected),
    )
    finished, answered = int(figures["finished"] or 0), int(figures["answered"] or 0)
    answer_rate = answered / finished if finished >= MIN_FINISHED_CALLS else defaults.answer_rate
    handle_seconds = defaults.avg_handle_seconds
    if int(figures["handled"] or 0) >= MIN_HANDLED_CALLS and figures["handle"] is not None:
        handle_seconds = max(1.0, figures["handle"].total_seconds())
    soon_free = 0
    abandon_rate = 0.0
    answered_30d = 0
    placing_ages: tuple[float, ...] | None = None
    if mode == DialMode.PREDICTIVE:
        answered_30d, abandon_rate = _abandon_figures(campaign, now)
        placing_ages = tuple(
            max(0.0, (now - started_at).total_seconds())
            for started_at in LeadAttempt.objects.filter(
                campaign_id=campaign.pk,
                started_at__gte=now - RECENT,
                interaction__status__in=PLACING_STATUSES,
                interaction__agent__isnull=True,
            ).values_list("started_at", flat=True)
        )
        if queue is not None:
            ending_by = now - dt.timedelta(seconds=max(0.0, handle_seconds - defaults.avg_ring_seconds))
            long_call = Interaction.objects.filter(
                agent=OuterRef("pk"),
                channel=Channel.VOICE,
                status=InteractionStatus.ACTIVE,
                accepted_at__lte=ending_by,
            )
            soon_free = (
                AgentProfile.objects.filter(queues=queue, presence=Presence.AVAILABLE)
                .filter(Q(state=AgentState.WRAP_UP) | Q(Exists(long_call), state=AgentState.BUSY))
                .count()
            )
    return Measured(
        pacing=pacing.PacingInput(
            mode=mode,
            agents_free=len(free),
            agents_soon_free=soon_free,
            calls_placing=len(placing_ages) if placing_ages is not None else int(figures["placing"] or 0),
            calls_waiting=int(figures["waiting"] or 0),
            lines_per_agent=float(campaign.lines_per_agent),
            answer_rate=answer_rate,
            avg_handle_seconds=handle_seconds,
            abandon_rate=abandon_rate,
            max_abandon_rate=float(campaign.max_abandon_percent) / 100,
            answered=answered_30d,
            placing_ages=placing_ages,
        ),
        free_agents=free,
    )


def _start(campaign_id: int, now: dt.datetime, result: TickResult) -> Campaign | None:
    """The campaign if this tick may dial it, read under its lock; completes it past its end."""
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(of=("self",)).select_related("queue").get(pk=campaign_id)
        )
        if campaign.status != CampaignStatus.ACTIVE:
            result.skipped = campaign.status
            return None
        if campaign.ends_at is not None and campaign.ends_at <= now:
            campaign_set_status(
                actor=DIALER,
                campaign_id=campaign.pk,
                to_status=CampaignStatus.COMPLETED,
                reason=f"ended at {campaign.ends_at:%Y-%m-%d %H:%M} UTC",
            )
            result.completed = True
            result.skipped = "ended"
            return None
        if campaign.channel != CampaignChannel.VOICE or campaign.dial_mode not in TICKED_MODES:
            result.skipped = "not dialled by the tick"
            return None
        if campaign.starts_at is not None and now < campaign.starts_at:
            result.skipped = "not started"
            return None
        if campaign.queue is None or not campaign.queue.is_active:
            result.skipped = "no active queue"
            return None
    return campaign


def settle_refusals(leads: Sequence[Lead], decisions: Sequence[Any], now: dt.datetime) -> list[int]:
    """What a refusal makes of each refused lead, in three statements at most: do-not-call,
    exhausted, or due again when the time rule lifts (their claim ends with it). Returns the
    leads only to give back (the campaign stopped being active: nothing about the lead changed)."""
    dnc: list[int] = []
    exhausted: list[int] = []
    later: list[Lead] = []
    release: list[int] = []
    for lead, decision in zip(leads, decisions, strict=True):
        rule, retry_at = decision.rule, decision.retry_at
        if rule == "campaign_inactive":
            release.append(lead.pk)
        elif rule in DNC_RULES:
            dnc.append(lead.pk)
        elif rule in EXHAUSTED_RULES:
            exhausted.append(lead.pk)
        else:
            lead.next_attempt_at = retry_at or now + NO_RETRY_BACKOFF
            lead.claimed_until = None
            lead.updated_at = now
            later.append(lead)
    if dnc:
        Lead.objects.filter(pk__in=dnc).update(
            status=LeadStatus.DNC, next_attempt_at=None, claimed_until=None, updated_at=now
        )
    if exhausted:
        Lead.objects.filter(pk__in=exhausted).update(
            status=LeadStatus.EXHAUSTED, next_attempt_at=None, claimed_until=None, updated_at=now
        )
    if later:
        Lead.objects.bulk_update(later, ["next_attempt_at", "claimed_until", "updated_at"])
    return release


class CampaignStopped(Exception):
    """The campaign stopped being active between the claim and this dial."""


def still_claimed(campaign: Campaign, lead: Lead) -> bool:
    """In the caller's transaction, before a lead's call or preview: lock the lead and say whether
    this tick's claim on it still holds (it may have lapsed and another tick taken the lead), then
    lock the campaign and raise CampaignStopped when it is no longer active. Locks: the lead,
    then the campaign (the order attempt_finish takes them in)."""
    still_ours = (
        Lead.objects.select_for_update()
        .filter(pk=lead.pk, claimed_until=lead.claimed_until, status__in=DIALLABLE_STATUSES)
        .exists()
    )
    if not still_ours:
        return False
    status = Campaign.objects.select_for_update().values_list("status", flat=True).get(pk=campaign.pk)
    if status != CampaignStatus.ACTIVE:
        raise CampaignStopped(status)
    return True


def claim_and_decide(
    campaign: Campaign,
    *,
    limit: int,
    now: dt.datetime,
    callback_owners: Collection[int] | None,
    result: TickResult,
) -> tuple[list[Lead], list[int]]:
    """Claim up to `limit` due leads from the hopper and ask the compliance gate about them (it
    logs every decision), in one transaction; the refused ones are settled (settle_refusals).
    Returns the allowed leads, in hopper order, and the ids of leads to give back; counts the
    claimed and refused ones into `result`."""
    from apps.campaigns.services.gate import contacts_decide

    with transaction.atomic():
        leads = hopper_claim(campaign=campaign, limit=limit, now=now, callback_owners=callback_owners)
        result.claimed = len(leads)
        if not leads:
            return [], []
        decisions = contacts_decide(campaign=campaign, leads=leads, channel=CampaignChannel.VOICE, now=now)
        refused = [(lead, d) for lead, d in zip(leads, decisions, strict=True) if not d.allowed]
        release = settle_refusals([lead for lead, _ in refused], [d for _, d in refused], now)
    result.refused = len(refused)
    return [lead for lead, d in zip(leads, decisions, strict=True) if d.allowed], release


def place_each(
    campaign: Campaign,
    leads: Sequence[Lead],
    place: Callable[[Lead], Interaction | None],
    *,
    now: dt.datetime,
    release: list[int],
    result: TickResult,
) -> list[Interaction]:
    """Place each lead's call (or preview) with `place`, each in its own transaction, and give
    back the leads not placed (with `release`). What a refusal makes of the lead: do-not-call
    found at the last moment -> do-not-call; not a phone number -> invalid; the campaign stopped
    or its queue closed -> the rest are given back; anything else (the agent taken meanwhile,
    the voice gateway failing, an unexpected error, logged) -> given back, and the others go on.
    Returns the interactions placed, in order."""
    placed: list[Interaction] = []
    for index, lead in enumerate(leads):
        try:
            interaction = place(lead)
        except CampaignStopped:
            release += [pending.pk for pending in leads[index:]]
            result.skipped = "stopped while dialling"
            break
        except (QueueClosed, ChannelNotServed) as exc:
            release += [pending.pk for pending in leads[index:]]
            result.skipped = str(exc)
            break
        except (ContactRefused, InvalidTarget) as exc:
            final = LeadStatus.DNC if isinstance(exc, ContactRefused) else LeadStatus.INVALID
            Lead.objects.filter(pk=lead.pk).update(
                status=final, next_attempt_at=None, claimed_until=None, updated_at=now
            )
            logger.info("lead %s not called: %s", lead.pk, exc)
            continue
        except DomainError as exc:
            logger.info("lead %s not called this tick: %s", lead.pk, exc)
            release.append(lead.pk)
            continue
        except Exception:
            # A call the tick could not place must not stop the others: logged, lead given back.
            logger.exception("campaign %s: placing the call to lead %s failed", campaign.pk, lead.pk)
            release.append(lead.pk)
            continue
        if interaction is not None:
            placed.append(interaction)
            result.interaction_ids.append(interaction.pk)
    hopper_release(lead_ids=release)
    return placed


def dial_lead(campaign: Campaign, lead: Lead, agent_id: int | None, now: dt.datetime) -> Interaction | None:
    """Place one call and record its attempt, in one transaction. None: the claim is no longer
    this tick's (it lapsed and another tick took the lead). Raises CampaignStopped when the
    campaign is no longer active, and the originate's refusals. Locks: the lead, the campaign
    (the order attempt_finish takes them in), then the reserved agent (interaction_originate)."""
    assert campaign.queue is not None
    with transaction.atomic():
        if not still_claimed(campaign, lead):
            return None
        interaction = interaction_originate(
            actor=DIALER,
            queue=campaign.queue,
            to_number=lead.contact,
            customer=lead.customer,
            agent_id=agent_id,
            caller_id=campaign.caller_id,
            subject=f"Campaign: {campaign.name}",
        )
        attempt_start(
            lead=lead,
            channel=CampaignChannel.VOICE,
            interaction=interaction,
            agent=interaction.agent,
            now=now,
        )
    return interaction


def _reservations(
    campaign: Campaign, leads: Sequence[Lead], free_agents: Sequence[tuple[int, int]]
) -> list[tuple[Lead, int | None]]:
    """Which agent each lead's call is reserved for: a personal callback its owner's; in
    progressive mode every other lead the next free agent's; in power and predictive none. A
    lead left without the agent it needs is not dialled this tick (left out)."""
    agent_of_user = {user_id: agent_id for agent_id, user_id in free_agents}
    taken: set[int] = set()
    out: list[tuple[Lead, int | None]] = []
    for lead in leads:
        if lead.callback_owner_id is not None and lead.status == LeadStatus.CALLBACK:
            owner_agent = agent_of_user.get(lead.callback_owner_id)
            if owner_agent is not None and owner_agent not in taken:
                taken.add(owner_agent)
                out.append((lead, owner_agent))
    progressive = campaign.dial_mode == DialMode.PROGRESSIVE
    spare = iter([agent_id for agent_id, _ in free_agents if agent_id not in taken])
    for lead in leads:
        if lead.callback_owner_id is not None and lead.status == LeadStatus.CALLBACK:
            continue
        if not progressive:
            out.append((lead, None))
            continue
        agent_id = next(spare, None)
        if agent_id is not None:
            out.append((lead, agent_id))
    order = {lead.pk: index for index, lead in enumerate(leads)}
    out.sort(key=lambda pair: order[pair[0].pk])
    return out


def campaign_tick(*, campaign_id: int, now: dt.datetime | None = None) -> TickResult:
    """One tick of one campaign (see the module). Idempotent in effect: a tick that finds
    nothing to do writes nothing, and one run twice at once places each lead's call once.
    Never raises for a call that could not be placed; raises only what the database raises."""
    now = now or timezone.now()
    result = TickResult(campaign_id=campaign_id)
    campaign = _start(campaign_id, now, result)
    if campaign is None:
        return result
    if campaign.dial_mode == DialMode.PREVIEW:
        from apps.campaigns.dialer.preview import preview_fill

        preview_fill(campaign, now, result)
        return result
    if campaign.dial_mode == DialMode.BROADCAST:
        from apps.campaigns.dialer.broadcast import broadcast_fill

        broadcast_fill(campaign, now, result)
        return result
    measured = pacing_measure(campaign=campaign, now=now)
    result.lines = pacing.campaign_lines_to_dial(campaign_id=campaign.pk, inp=measured.pacing)
    if result.lines <= 0:
        return result
    # Personal callbacks are claimed only for owners free to take them now.
    owners = [user_id for _, user_id in measured.free_agents]
    allowed, release = claim_and_decide(
        campaign, limit=result.lines, now=now, callback_owners=owners, result=result
    )
    planned = {lead.pk: agent_id for lead, agent_id in _reservations(campaign, allowed, measured.free_agents)}
    release += [lead.pk for lead in allowed if lead.pk not in planned]
    placed = place_each(
        campaign,
        [lead for lead in allowed if lead.pk in planned],
        lambda lead: dial_lead(campaign, lead, planned[lead.pk], now),
        now=now,
        release=release,
        result=result,
    )
    result.dialled = len(placed)
    result.released = result.claimed - result.dialled
    return result


def ticked_campaigns() -> list[int]:
    """The ids of the campaigns beat ticks: active voice campaigns dialled by the system."""
    return list(
        Campaign.objects.filter(
            status=CampaignStatus.ACTIVE, channel=CampaignChannel.VOICE, dial_mode__in=TICKED_MODES
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def campaigns_tick(*, now: dt.datetime | None = None) -> dict[int, TickResult | None]:
    """Beat's tick: every ticked campaign once, each under a cache lock so that two overlapping
    beats do not pace one campaign twice (the database locks keep them correct anyway). One
    campaign's failure is logged and the others are still ticked; its entry is None, as is one
    another tick holds."""
    results: dict[int, TickResult | None] = {}
    for campaign_id in ticked_campaigns():
        key = f"campaigns:dialer:tick:{campaign_id}"
        if not cache.add(key, 1, TICK_LOCK_SECONDS):
            results[campaign_id] = None
            continue
        try:
            results[campaign_id] = campaign_tick(campaign_id=campaign_id, now=now)
        except Exception:
            logger.exception("campaign %s: the dialer's tick failed", campaign_id)
            results[campaign_id] = None
        finally:
            cache.delete(key)
    return results
