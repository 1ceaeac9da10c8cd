"""The voice simulator: seeded answers (the same for the same seed and call, however often
asked), an unanswered call ringing at least 15 seconds, its reports through
interaction_call_progress, the optional hang-up of the demo, and nothing faked for a real
provider's calls."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.utils import timezone

from apps.campaigns import simulator
from apps.campaigns.dialer import tick
from apps.campaigns.models import Lead, LeadAttempt, LeadStatus
from apps.campaigns.services.attempts import attempt_start
from apps.campaigns.simulator import (
    MIN_NO_ANSWER_RING,
    SimulatedOdds,
    simulated_call,
    simulated_keys,
    simulator_report_due,
)
from apps.core.actors import SystemActor
from apps.interactions import services, voice
from apps.interactions.models import AgentProfile, CallOutcome, Interaction, InteractionStatus, Queue
from tests.campaigns.factories import LeadFactory, make_voice_campaign
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db

DIALER = SystemActor("dialer")
ALWAYS_NO_ANSWER = SimulatedOdds(answer=0, busy=0, no_answer=1, machine=0, invalid=0)
ALWAYS_ANSWERED = SimulatedOdds(answer=1, busy=0, no_answer=0, machine=0, invalid=0, talk=(90, 90))
ALWAYS_INVALID = SimulatedOdds(answer=0, busy=0, no_answer=0, machine=0, invalid=1)


def _dial(queue: Queue, agent: AgentProfile | None = None) -> Interaction:
    return services.interaction_originate(
        actor=DIALER, queue=queue, to_number="+14155550123", agent_id=agent.pk if agent else None
    )


def _placed(call: Interaction) -> dt.datetime:
    call.refresh_from_db()
    return call.dialed_at or call.created_at


def test_a_call_gets_the_same_answer_for_the_same_seed_and_id() -> None:
    first = [simulated_call(interaction_id=pk, seed=7) for pk in range(1, 301)]
    again = [simulated_call(interaction_id=pk, seed=7) for pk in range(1, 301)]
    other_seed = [simulated_call(interaction_id=pk, seed=8) for pk in range(1, 301)]

    assert first == again
    assert first != other_seed
    assert {call.outcome for call in first} == {"answered", "busy", "no_answer", "machine", "invalid"}


def test_an_unanswered_call_never_gives_up_before_15_seconds() -> None:
    odds = SimulatedOdds(no_answer_ring=(15.0, 16.0))

    rings = [
        call.ring_seconds
        for call in (simulated_call(interaction_id=pk, seed=3, odds=odds) for pk in range(5000))
        if call.outcome == CallOutcome.NO_ANSWER
    ]

    assert len(rings) > 2000
    assert min(rings) >= MIN_NO_ANSWER_RING


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"no_answer_ring": (10.0, 30.0)}, "rings at least 15 seconds"),
        ({"answer": 0.5}, "add up to 1"),
        ({"busy_ring": (5.0, 2.0)}, "busy_ring must be a range"),
        ({"busy": -0.1, "no_answer": 0.7}, "cannot be negative"),
    ],
)
def test_odds_that_do_not_hold_together_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulatedOdds(**fields)  # type: ignore[arg-type]


def test_an_unanswered_call_rings_then_is_reported_no_answer_once_its_ring_time_passed() -> None:
    call = _dial(make_queue(channels=["voice"]))
    placed = _placed(call)
    ring = simulated_call(interaction_id=call.pk, seed=5, odds=ALWAYS_NO_ANSWER).ring_seconds

    one = simulator_report_due(now=placed + dt.timedelta(seconds=1), seed=5, odds=ALWAYS_NO_ANSWER)
    assert (one.ringing, one.outcomes) == (1, {})
    at_15 = simulator_report_due(now=placed + dt.timedelta(seconds=14.9), seed=5, odds=ALWAYS_NO_ANSWER)
    assert (at_15.ringing, at_15.outcomes) == (0, {})
    assert Interaction.objects.get(pk=call.pk).status == InteractionStatus.RINGING

    done = simulator_report_due(now=placed + dt.timedelta(seconds=ring), seed=5, odds=ALWAYS_NO_ANSWER)

    call.refresh_from_db()
    assert done.outcomes == {"no_answer": 1}
    assert (call.status, call.call_outcome) == (InteractionStatus.CLOSED, CallOutcome.NO_ANSWER)
    assert call.events.get(kind="call_no_answer").data == {
        "outcome": "no_answer",
        "detail": "voice simulator",
    }


def test_a_repeated_run_reports_nothing_twice_and_follows_the_seeded_answer() -> None:
    queue = make_queue(channels=["voice"])
    calls = [_dial(queue) for _ in range(6)]
    late = max(_placed(call) for call in calls) + dt.timedelta(seconds=60)

    first = simulator_report_due(now=late, seed=11)
    second = simulator_report_due(now=late, seed=11)

    expected: dict[str, int] = {}
    for call in calls:
        outcome = simulated_call(interaction_id=call.pk, seed=11).outcome
        outcome = "failed" if outcome == "invalid" else outcome
        expected[outcome] = expected.get(outcome, 0) + 1
        assert Interaction.objects.get(pk=call.pk).call_outcome == outcome
    assert (first.outcomes, second.outcomes, second.ringing) == (expected, {}, 0)


def test_an_invalid_number_is_reported_failed_without_ringing() -> None:
    call = _dial(make_queue(channels=["voice"]))
    placed = _placed(call)

    early = simulator_report_due(now=placed + dt.timedelta(seconds=0.9), seed=1, odds=ALWAYS_INVALID)
    assert (early.ringing, early.outcomes) == (0, {})
    later = simulator_report_due(now=placed + dt.timedelta(seconds=3), seed=1, odds=ALWAYS_INVALID)

    call.refresh_from_db()
    assert later.outcomes == {"failed": 1}
    assert call.call_outcome == CallOutcome.FAILED
    assert call.events.get(kind="call_failed").data["detail"] == "number not in service (simulated)"
    assert not call.events.filter(kind="ringing").exists()


def test_the_demo_hang_up_ends_an_answered_campaign_call_after_its_talk_time() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    lead = LeadFactory(campaign=make_voice_campaign(queue=queue))
    call = _dial(queue, agent)
    attempt_start(lead=lead, channel="voice", interaction=call, agent=agent)
    simulator_report_due(now=_placed(call) + dt.timedelta(seconds=13), seed=2, odds=ALWAYS_ANSWERED)
    call.refresh_from_db()
    assert call.status == InteractionStatus.ACTIVE and call.accepted_at is not None

    kept = simulator_report_due(
        now=call.accepted_at + dt.timedelta(seconds=120), seed=2, odds=ALWAYS_ANSWERED, hang_up=False
    )
    early = simulator_report_due(
        now=call.accepted_at + dt.timedelta(seconds=89), seed=2, odds=ALWAYS_ANSWERED, hang_up=True
    )
    assert (kept.hung_up, early.hung_up) == (0, 0)
    assert Interaction.objects.get(pk=call.pk).status == InteractionStatus.ACTIVE

    ended = simulator_report_due(
        now=call.accepted_at + dt.timedelta(seconds=90), seed=2, odds=ALWAYS_ANSWERED, hang_up=True
    )

    assert ended.hung_up == 1
    assert Interaction.objects.get(pk=call.pk).status == InteractionStatus.WRAP_UP


def test_the_demo_hang_up_is_off_unless_the_settings_turn_it_on(settings: object) -> None:
    assert simulator.simulator_hangs_up() is False
    settings.DIALER_SIMULATOR_HANGS_UP = True  # type: ignore[attr-defined]
    assert simulator.simulator_hangs_up() is True


@pytest.fixture
def provider() -> Iterator[None]:
    class Provider:
        name = "provider"

        def originate(self, interaction: Interaction, *, to_number: str, caller_id: str) -> None:
            return None

    previous = voice.register(Provider())  # type: ignore[arg-type]
    yield
    voice.register(previous)


def test_a_real_providers_calls_are_never_answered_by_the_simulator(provider: None) -> None:
    call = _dial(make_queue(channels=["voice"]))

    report = simulator_report_due(now=_placed(call) + dt.timedelta(seconds=60), seed=1)

    assert (report.ringing, report.outcomes) == (0, {})
    assert Interaction.objects.get(pk=call.pk).status == InteractionStatus.DIALING


@pytest.mark.django_db(transaction=True)  # the call's outcome reaches its lead after commit
def test_an_answered_broadcast_call_reports_its_keys_instead_of_waiting_for_an_agent() -> None:
    campaign = make_voice_campaign(
        dial_mode="broadcast", broadcast_action="appointment", message_body="Your visit is tomorrow."
    )
    for n in range(30):
        LeadFactory(campaign=campaign, contact=f"+1415888{n:04d}", time_zones=["UTC"])
    now = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
    tick.campaign_tick(campaign_id=campaign.pk, now=now)
    attempts = list(LeadAttempt.objects.filter(campaign=campaign).select_related("lead"))
    assert len(attempts) == campaign.broadcast_lines

    report = simulator_report_due(now=timezone.now() + dt.timedelta(seconds=60), seed=2, odds=ALWAYS_ANSWERED)

    assert sum(report.outcomes.values()) == len(attempts)
    assert set(report.outcomes) <= {"broadcast confirmed", "broadcast cancelled", "broadcast heard"}
    for attempt in attempts:
        assert attempt.interaction_id is not None
        keys = simulated_keys(interaction_id=attempt.interaction_id, seed=2, action="appointment")
        lead = Lead.objects.get(pk=attempt.lead_id)
        assert lead.status == LeadStatus.DONE
        assert lead.appointment_answer == {"1": "confirmed", "2": "cancelled"}.get(keys, "")
        call = Interaction.objects.get(pk=attempt.interaction_id)
        assert (call.status, call.call_outcome, call.agent_id) == (InteractionStatus.CLOSED, "message", None)
