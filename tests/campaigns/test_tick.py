"""The dialer's tick: pacing per dial mode, which leads it dials and in which order, pause and
end of a campaign, what the compliance gate's refusals and a failed call make of a lead, the
queries a tick costs, beat's task and its schedule."""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.campaigns.dialer import tick
from apps.campaigns.dialer.pacing import PacingInput, lines_to_dial
from apps.campaigns.models import (
    AttemptStatus,
    Campaign,
    CampaignStatus,
    CampaignStatusChange,
    DialMode,
    Lead,
    LeadAttempt,
    LeadStatus,
)
from apps.campaigns.services import gate
from apps.campaigns.services.campaigns import campaign_set_status
from apps.campaigns.services.dnc import dnc_add
from apps.campaigns.tasks_dialer import campaigns_tick
from apps.core.actors import SystemActor
from apps.interactions import voice
from apps.interactions.exceptions import VoiceGatewayError
from apps.interactions.models import (
    AgentProfile,
    CallOutcome,
    Channel,
    Direction,
    Interaction,
    InteractionStatus,
    Queue,
)
from tests.campaigns.factories import LeadFactory, make_voice_campaign
from tests.interactions.factories import make_agent

pytestmark = pytest.mark.django_db

# Thursday 12:00 in Los Angeles, where the leads are: inside the campaigns' 09:00-20:00 window.
NOW = dt.datetime(2026, 12, 3, 20, 0, tzinfo=dt.UTC)
MARKETING = SystemActor("marketing test")


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cache.clear()  # the 30 days' abandon rate is cached for a minute
    yield
    cache.clear()


def _campaign(mode: str, agents: int = 0, **fields: Any) -> tuple[Campaign, list[AgentProfile]]:
    campaign = make_voice_campaign(dial_mode=mode, caller_id="+14155550100", **fields)
    assert campaign.queue is not None
    return campaign, [make_agent(campaign.queue) for _ in range(agents)]


def _lead(campaign: Campaign, **fields: Any) -> Lead:
    return LeadFactory(campaign=campaign, **fields)


def _dialled(campaign: Campaign) -> list[int]:
    """Lead ids with an attempt, in the order the attempts were made."""
    return list(
        LeadAttempt.objects.filter(campaign=campaign).order_by("id").values_list("lead_id", flat=True)
    )


def _history(campaign: Campaign, *, finished: int, answered: int, abandoned: int = 0) -> None:
    """The campaign's calls of the last hour: `finished` ended calls, `answered` of them answered
    (and `abandoned` of those abandoned)."""
    assert campaign.queue is not None
    for n in range(finished):
        was_answered = n < answered
        interaction = Interaction.objects.create(
            channel=Channel.VOICE,
            direction=Direction.OUTBOUND,
            queue=campaign.queue,
            contact=f"+1415777{n:04d}",
            status=InteractionStatus.ABANDONED if n < abandoned else InteractionStatus.CLOSED,
            call_outcome=CallOutcome.ANSWERED if was_answered else CallOutcome.NO_ANSWER,
        )
        lead = _lead(
            campaign,
            contact=f"+1415777{n:04d}",
            status=LeadStatus.RETRY,
            next_attempt_at=NOW + dt.timedelta(days=1),
        )
        LeadAttempt.objects.create(
            lead=lead,
            campaign=campaign,
            interaction=interaction,
            channel="voice",
            contact=lead.contact,
            status=AttemptStatus.ABANDONED if n < abandoned else AttemptStatus.ENDED,
            started_at=NOW - dt.timedelta(minutes=30),
            answered_at=NOW - dt.timedelta(minutes=29) if was_answered else None,
            ended_at=NOW - dt.timedelta(minutes=28),
        )


def _zone_at_noon() -> str:
    """A fixed-offset zone where it is about noon now (inside every campaign's window)."""
    offset = (12 - timezone.now().hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


# -- pacing ------------------------------------------------------------------------------------


def test_progressive_pacing_places_one_call_per_free_agent_less_those_being_placed() -> None:
    assert lines_to_dial(PacingInput(mode=DialMode.PROGRESSIVE, agents_free=3)) == 3
    assert lines_to_dial(PacingInput(mode=DialMode.PROGRESSIVE, agents_free=3, calls_placing=1)) == 2
    assert lines_to_dial(PacingInput(mode=DialMode.PROGRESSIVE, agents_free=1, calls_waiting=2)) == 0


def test_power_pacing_places_lines_per_agent_for_each_free_agent() -> None:
    assert lines_to_dial(PacingInput(mode=DialMode.POWER, agents_free=3, lines_per_agent=2.5)) == 7
    assert (
        lines_to_dial(PacingInput(mode=DialMode.POWER, agents_free=3, lines_per_agent=2, calls_placing=4))
        == 2
    )


# -- what the tick dials -----------------------------------------------------------------------


def test_a_progressive_tick_reserves_one_free_agent_per_call_in_hopper_order() -> None:
    campaign, agents = _campaign(DialMode.PROGRESSIVE, agents=3)
    old = _lead(campaign)
    newer = _lead(campaign)
    retry_due = _lead(campaign, status=LeadStatus.RETRY, next_attempt_at=NOW - dt.timedelta(minutes=5))
    urgent = _lead(campaign, priority=5)
    callback = _lead(campaign, status=LeadStatus.CALLBACK, next_attempt_at=NOW - dt.timedelta(minutes=1))
    _lead(campaign, status=LeadStatus.RETRY, next_attempt_at=NOW + dt.timedelta(minutes=5))  # not due
    _lead(campaign, status=LeadStatus.DONE)
    _lead(campaign, claimed_until=NOW + dt.timedelta(seconds=30))  # another tick holds it
    _lead(campaign, attempts=5)  # used up (max_attempts_per_lead 5)

    result = tick.campaign_tick(campaign_id=campaign.pk, now=NOW)

    assert (result.lines, result.claimed, result.dialled, result.refused, result.released) == (3, 3, 3, 0, 0)
    assert _dialled(campaign) == [callback.pk, urgent.pk, old.pk]
    calls = Interaction.objects.filter(pk__in=result.interaction_ids).order_by("pk")
    assert [(c.status, c.direction, c.contact, c.caller_id) for c in calls] == [
        (InteractionStatus.DIALING, Direction.OUTBOUND, lead.contact, "+14155550100")
        for lead in (callback, urgent, old)
    ]
    assert sorted(c.agent_id for c in calls) == sorted(a.pk for a in agents)
    assert [a.agent_id for a in LeadAttempt.objects.order_by("id")] == [c.agent_id for c in calls]
    assert set(
        Lead.objects.filter(pk__in=[callback.pk, urgent.pk, old.pk]).values_list(
            "status", "attempts", "claimed_until"
        )
    ) == {(LeadStatus.IN_PROGRESS, 1, None)}

    # The agents are reserved now: the next tick has no free agent and places nothing.
    again = tick.campaign_tick(campaign_id=campaign.pk, now=NOW + dt.timedelta(seconds=2))
    assert (again.lines, again.dialled) == (0, 0)
    assert Lead.objects.get(pk=newer.pk).status == LeadStatus.NEW
    assert Lead.objects.get(pk=retry_due.pk).status == LeadStatus.RETRY


def test_a_new_lead_comes_before_a_retry_of_the_same_priority_and_the_oldest_retry_first() -> None:
    campaign, _ = _campaign(DialMode.PROGRESSIVE, agents=3)
    later_retry = _lead(campaign, status=LeadStatus.RETRY, next_attempt_at=NOW - dt.timedelta(minutes=1))
    early_retry = _lead(campaign, status=LeadStatus.RETRY, next_attempt_at=NOW - dt.timedelta(hours=1))
    new = _lead(campaign)

    tick.campaign_tick(campaign_id=campaign.pk, now=NOW)

    assert _dialled(campaign) == [new.pk, early_retry.pk, later_retry.pk]


def test_a_power_tick_places_lines_per_agent_without_reserving_anyone() -> None:
    campaign, _ = _campaign(DialMode.POWER, agents=2, lines_per_agent=2)
    leads = [_lead(campaign) for _ in range(6)]

    result = tick.campaign_tick(campaign_id=campaign.pk, now=NOW)

    assert (result.lines, result.dialled) == (4, 4)
    assert _dialled(campaign) == [lead.pk for lead in leads[:4]]
    assert set(
        Interaction.objects.filter(pk__in=result.interaction_ids).values_list("agent_id", flat=True)
    ) == {None}
    # The four calls are being placed: with the same two agents free, nothing more yet.
    assert tick.campaign_tick(campaign_id=campaign.pk, now=NOW).lines == 0


def test_a_predictive_tick_paces_on_the_last_hours_answer_rate() -> None:
    campaign, _ = _campaign(DialMode.PREDICTIVE, agents=2)
    _history(campaign, finished=40, answered=20)
    [_lead(campaign) for _ in range(10)]

    measured = tick.pacing_measure(campaign=campaign, now=NOW)
    result = tick.campaign_tick(campaign_id=campaign.pk, now=NOW)

    assert (measured.pacing.answer_rate, measured.pacing.agents_free, measured.pacing.abandon_rate) == (
        0.5,
        2,
        0.0,
    )
    # 0.38 answers kept coming per free agent (the controller's start) at a 50 % answer rate.
    assert (result.lines, result.dialled) == (2, 2)


def test_a_predictive_tick_near_the_abandon_cap_dials_one_call_per_free_agent() -> None:
    campaign, _ = _campaign(DialMode.PREDICTIVE, agents=2, max_abandon_percent=3)
    _history(campaign, finished=40, answered=20, abandoned=1)  # 5 % abandoned of answered
    [_lead(campaign) for _ in range(10)]

    result = tick.campaign_tick(campaign_id=campaign.pk, now=NOW)

    assert (result.lines, result.dialled) == (2, 2)


def test_a_predictive_tick_without_history_uses_the_default_answer_rate() -> None:
    campaign, _ = _campaign(DialMode.PREDICTIVE, agents=1)
    _history(campaign, finished=5, answered=5)  # too few calls to pace on

    measured = tick.pacing_measure(campaign=campaign, now=NOW)

    assert (measured.pacing.answer_rate, lines_to_dial(measured.pacing)) == (0.3, 1)


def test_a_personal_callback_waits_for_its_owner_and_is_reserved_for_them() -> None:
    campaign, (first, second) = _campaign(DialMode.POWER, agents=2, lines_per_agent=1)
    away = make_agent(campaign.queue, available=False)
    mine = _lead(campaign, status=LeadStatus.CALLBACK, callback_owner=second.user, next_attempt_at=NOW)
    theirs = _lead(campaign, status=LeadStatus.CALLBACK, callback_owner=away.user, next_attempt_at=NOW)
    plain = _lead(campaign)

    result = tick.campaign_tick(campaign_id=campaign.pk, now=NOW)

    assert result.dialled == 2
    assert _dialled(campaign) == [mine.pk, plain.pk]
    assert LeadAttempt.objects.get(lead=mine).agent_id == second.pk
    assert LeadAttempt.objects.get(lead=plain).agent_id is None
    assert Lead.objects.get(pk=theirs.pk).status == LeadStatus.CALLBACK


# -- pause and end -----------------------------------------------------------------------------


def test_a_tick_after_a_pause_dials_nothing() -> None:
    campaign, _ = _campaign(DialMode.PROGRESSIVE, agents=2)
    lead = _lead(campaign)
    campaign_set_status(actor=MARKETING, campaign_id=campaign.pk, to_status=CampaignStatus.PAUSED)

    result = tick.campaign_tick(campaign_id=campaign.pk, now=NOW)

    assert (result.skipped, result.claimed, result.dialled) == (CampaignStatus.PAUSED, 0, 0)
    assert Lead.objects.get(pk=lead.pk).claimed_until is None
    assert not Interaction.objects.exists()


def test_a_pause_between_the_claim_and_the_dial_places_no_call(monkeypatch: pytest.MonkeyPatch) -> None:
    campaign, _ = _campaign(DialMode.PROGRESSIVE, agents=2)
    leads = [_lead(campaign), _lead(campaign)]
    decide = gate.contacts_decide

    def decide_then_pause(**kwargs: Any) -> list[gate.Decision]:
        decisions = decide(**kwargs)
        campaign_set_status(actor=MARKETING, campaign_id=campaign.pk, to_status=CampaignStatus.PAUSED)
        return decisions

    monkeypatch.setattr(gate, "contacts_decide", decide_then_pause)

    result = tick.campaign_tick(campaign_id=campaign.pk, now=NOW)

    assert (result.claimed, result.dialled, result.released) == (2, 0, 2)
    assert not Interaction.objects.exists()
    assert not LeadAttempt.objects.exists()
    assert set(
        Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("status", "claimed_until")
    ) == {(LeadStatus.NEW, None)}


def test_a_pause_while_dialling_stops_the_calls_not_placed_yet() -> None:
    campaign, _ = _campaign(DialMode.POWER, agents=1, lines_per_agent=3)
    leads = [_lead(campaign) for _ in range(3)]

    class PausingGateway(voice.SimulatorGateway):
        def originate(self, interaction: Interaction, *, to_number: str, caller_id: str) -> None:
            super().originate(interaction, to_number=to_number, caller_id=caller_id)
            Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.PAUSED)

    previous = voice.register(PausingGateway())
    try:
        result = tick.campaign_tick(campaign_id=campaign.pk, now=NOW)
    finally:
        voice.register(previous)

    assert (result.claimed, result.dialled, result.released) == (3, 1, 2)
    assert _dialled(campaign) == [leads[0].pk]
    assert list(
        Lead.objects.filter(pk__in=[leads[1].pk, leads[2].pk]).values_list("claimed_until", flat=True)
    ) == [
        None,
        None,
    ]


def test_a_campaign_past_its_end_is_completed_by_the_dialer() -> None:
    campaign, _ = _campaign(DialMode.PROGRESSIVE, agents=1, ends_at=NOW - dt.timedelta(minutes=1))
    _lead(campaign)

    result = tick.campaign_tick(campaign_id=campaign.pk, now=NOW)

    campaign.refresh_from_db()
    assert (result.completed, result.dialled, campaign.status) == (True, 0, CampaignStatus.COMPLETED)
    change = CampaignStatusChange.objects.filter(campaign=campaign).latest("id")
    assert (change.from_status, change.to_status, change.actor_name) == (
        CampaignStatus.ACTIVE,
        CampaignStatus.COMPLETED,
        "dialer",
    )


def test_a_campaign_not_started_yet_dials_nothing() -> None:
    campaign, _ = _campaign(DialMode.PROGRESSIVE, agents=1, starts_at=NOW + dt.timedelta(hours=1))
    _lead(campaign)

    result = tick.campaign_tick(campaign_id=campaign.pk, now=NOW)

    assert (result.skipped, result.dialled) == ("not started", 0)


# -- refusals and failed calls -----------------------------------------------------------------


def test_refused_leads_are_due_again_when_the_window_opens_or_become_dnc_or_exhausted() -> None:
    campaign, _ = _campaign(DialMode.POWER, agents=2, lines_per_agent=2, max_attempts_per_number=1)
    tokyo = _lead(campaign, time_zones=["Asia/Tokyo"])  # 05:00 there
    on_list = _lead(campaign)
    dnc_add(actor=MARKETING, number=on_list.contact, reason="asked on the phone")
    tried = _lead(campaign)
    LeadAttempt.objects.create(
        lead=tried,
        campaign=campaign,
        channel="voice",
        contact=tried.contact,
        status=AttemptStatus.ENDED,
        started_at=NOW - dt.timedelta(days=2),
        ended_at=NOW - dt.timedelta(days=2),
    )
    fine = _lead(campaign)

    result = tick.campaign_tick(campaign_id=campaign.pk, now=NOW)

    assert (result.claimed, result.refused, result.dialled, result.released) == (4, 3, 1, 3)
    assert _dialled(campaign)[-1] == fine.pk
    rows = {lead.pk: lead for lead in Lead.objects.filter(campaign=campaign)}
    # 09:00 in Tokyo on Friday 4 December is 00:00 UTC.
    assert (rows[tokyo.pk].status, rows[tokyo.pk].next_attempt_at, rows[tokyo.pk].claimed_until) == (
        LeadStatus.NEW,
        dt.datetime(2026, 12, 4, 0, 0, tzinfo=dt.UTC),
        None,
    )
    assert (rows[on_list.pk].status, rows[on_list.pk].claimed_until) == (LeadStatus.DNC, None)
    assert (rows[tried.pk].status, rows[tried.pk].claimed_until) == (LeadStatus.EXHAUSTED, None)
    # The hopper leaves the Tokyo lead alone until then.
    assert tick.campaign_tick(campaign_id=campaign.pk, now=NOW + dt.timedelta(seconds=2)).claimed == 0


def test_a_call_the_voice_gateway_fails_gives_the_lead_back() -> None:
    campaign, (agent,) = _campaign(DialMode.PROGRESSIVE, agents=1)
    lead = _lead(campaign)

    class FailingGateway(voice.SimulatorGateway):
        def originate(self, interaction: Interaction, *, to_number: str, caller_id: str) -> None:
            raise VoiceGatewayError("The provider is not answering.")

    previous = voice.register(FailingGateway())
    try:
        result = tick.campaign_tick(campaign_id=campaign.pk, now=NOW)
    finally:
        voice.register(previous)

    assert (result.claimed, result.dialled, result.released) == (1, 0, 1)
    lead.refresh_from_db()
    assert (lead.status, lead.attempts, lead.claimed_until) == (LeadStatus.NEW, 0, None)
    assert not Interaction.objects.exists()
    assert not LeadAttempt.objects.exists()
    agent.refresh_from_db()
    assert agent.capacities.get(channel="voice").load == 0
    # The next tick tries again.
    assert tick.campaign_tick(campaign_id=campaign.pk, now=NOW).dialled == 1


def test_a_number_marked_do_not_call_after_the_gate_is_refused_by_the_call_and_becomes_dnc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaign, _ = _campaign(DialMode.PROGRESSIVE, agents=1)
    lead = _lead(campaign)
    decide = gate.contacts_decide

    def decide_then_opt_out(**kwargs: Any) -> list[gate.Decision]:
        decisions = decide(**kwargs)
        # The customer asks not to be called while the tick is between its gate and its dial.
        from apps.customers.models import ContactPoint

        ContactPoint.objects.create(
            customer=lead.customer, kind="phone", value=lead.contact, do_not_call=True
        )
        return decisions

    monkeypatch.setattr(gate, "contacts_decide", decide_then_opt_out)

    result = tick.campaign_tick(campaign_id=campaign.pk, now=NOW)

    lead.refresh_from_db()
    assert (result.dialled, result.released, lead.status, lead.claimed_until) == (0, 1, LeadStatus.DNC, None)
    assert not Interaction.objects.exists()


# -- cost --------------------------------------------------------------------------------------


def _queries(campaign: Campaign) -> int:
    with CaptureQueriesContext(connection) as queries:
        tick.campaign_tick(campaign_id=campaign.pk, now=NOW)
    return len(queries)


def test_a_ticks_queries_do_not_grow_with_refused_leads_and_grow_by_a_constant_per_call() -> None:
    few, _ = _campaign(DialMode.POWER, agents=1, lines_per_agent=5)
    many, _ = _campaign(DialMode.POWER, agents=5, lines_per_agent=5)
    for campaign, count in ((few, 5), (many, 25)):
        for n in range(count):
            _lead(campaign, contact=f"+1415888{campaign.pk % 10}{n:03d}", time_zones=["Asia/Tokyo"])
    refused_few, refused_many = _queries(few), _queries(many)

    one_call, _ = _campaign(DialMode.POWER, agents=1, lines_per_agent=1)
    three_calls, _ = _campaign(DialMode.POWER, agents=1, lines_per_agent=3)
    for campaign, count in ((one_call, 1), (three_calls, 3)):
        for _n in range(count):
            _lead(campaign)
    dial_one, dial_three = _queries(one_call), _queries(three_calls)

    assert Lead.objects.filter(campaign__in=[few, many], next_attempt_at__isnull=False).count() == 30
    assert refused_few == refused_many <= 20  # savepoints included
    per_call = (dial_three - dial_one) / 2
    assert LeadAttempt.objects.filter(campaign__in=[one_call, three_calls]).count() == 4
    assert per_call == int(per_call) and per_call <= 18
    assert dial_one <= refused_few + per_call


# -- beat --------------------------------------------------------------------------------------


def test_beats_task_ticks_every_dialled_campaign_and_survives_one_failing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broken, _ = _campaign(DialMode.PROGRESSIVE, agents=1)
    working, _ = _campaign(DialMode.PROGRESSIVE, agents=1)
    preview, _ = _campaign(DialMode.PREVIEW, agents=1)
    for campaign in (broken, working, preview):
        _lead(campaign, time_zones=[_zone_at_noon()])  # beat's task ticks at the real time
    measure = tick.pacing_measure

    def failing_for_broken(*, campaign: Campaign, now: dt.datetime) -> tick.Measured:
        if campaign.pk == broken.pk:
            raise RuntimeError("the queue's figures could not be read")
        return measure(campaign=campaign, now=now)

    monkeypatch.setattr(tick, "pacing_measure", failing_for_broken)

    placed = campaigns_tick.apply().get()

    assert placed == {str(broken.pk): 0, str(working.pk): 1, str(preview.pk): 1}
    assert _dialled(working) and not _dialled(broken)
    # The preview campaign's lead waits for its agent as a queued attempt: nothing is dialled.
    assert list(LeadAttempt.objects.filter(campaign=preview).values_list("status", flat=True)) == [
        AttemptStatus.QUEUED
    ]
    assert f"campaign {broken.pk}: the dialer's tick failed" in caplog.text


def test_the_dialer_tick_is_scheduled_every_two_seconds_and_the_migration_reverses() -> None:
    task = PeriodicTask.objects.get(name="campaigns: dialer tick")
    assert (task.task, task.interval.every, task.interval.period, task.enabled) == (
        "apps.campaigns.tasks_dialer.campaigns_tick",
        2,
        "seconds",
        True,
    )
    migration = importlib.import_module("apps.campaigns.migrations.0002_dialer_beat")

    migration.backwards(django_apps, None)
    assert not PeriodicTask.objects.filter(name="campaigns: dialer tick").exists()
    migration.forwards(django_apps, None)
    assert PeriodicTask.objects.filter(name="campaigns: dialer tick", interval__every=2).count() == 1


def test_queue_switched_off_dials_nothing() -> None:
    campaign, _ = _campaign(DialMode.PROGRESSIVE, agents=1)
    _lead(campaign)
    Queue.objects.filter(pk=campaign.queue_id).update(is_active=False)

    result = tick.campaign_tick(campaign_id=campaign.pk, now=NOW)

    assert (result.skipped, result.dialled) == ("no active queue", 0)
