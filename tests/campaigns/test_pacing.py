"""Pacing: the decisions the tick's pacing.campaign_lines_to_dial and the virtual dialer share.
Predictive dialing is the abandon-rate controller of apps.campaigns.dialer.predictive: calls
for the agents free and about to be free at the measured answer rate and handle time, less the
answers still to come; progressive when the 30 days' abandon rate nears its cap; the
controller's state kept in the cache per campaign."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from django.core.cache import cache

from apps.campaigns.dialer import pacing, predictive
from apps.campaigns.dialer.pacing import PacingInput, campaign_lines_to_dial, lines_to_dial, pacing_decide
from apps.campaigns.models import DialMode


@pytest.fixture(autouse=True)
def clean_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _predictive(**fields: object) -> PacingInput:
    values: dict[str, object] = {"mode": DialMode.PREDICTIVE, "agents_free": 4, "answer_rate": 0.25}
    values.update(fields)
    return PacingInput(**values)  # type: ignore[arg-type]


def test_progressive_pacing_places_one_call_per_free_agent_less_those_being_placed_or_waiting() -> None:
    assert lines_to_dial(PacingInput(mode=DialMode.PROGRESSIVE, agents_free=3)) == 3
    assert lines_to_dial(PacingInput(mode=DialMode.PROGRESSIVE, agents_free=3, calls_placing=1)) == 2
    assert lines_to_dial(PacingInput(mode=DialMode.PROGRESSIVE, agents_free=1, calls_waiting=2)) == 0


def test_preview_pacing_places_nothing() -> None:
    assert lines_to_dial(PacingInput(mode=DialMode.PREVIEW, agents_free=5)) == 0


def test_predictive_pacing_dials_the_neutral_ratio_of_answers_per_free_agent_at_the_answer_rate() -> None:
    # 0.38 answers kept coming per free agent (the start): 4 free agents at a 25 % answer rate.
    assert lines_to_dial(_predictive()) == round(predictive.START_RATIO * 4 / 0.25) == 6
    # A better answer rate needs fewer calls for the same answers.
    assert lines_to_dial(_predictive(answer_rate=0.5)) == 3


def test_predictive_lines_grow_with_agents_about_to_be_free_by_the_chance_they_finish_in_time() -> None:
    free_only = _predictive(agents_free=10, answer_rate=0.1, avg_handle_seconds=30.0)
    with_soon = _predictive(agents_free=10, answer_rate=0.1, avg_handle_seconds=30.0, agents_soon_free=20)

    chance = 1 - math.exp(-predictive.ABANDON_GRACE_SECONDS / 30.0)
    assert lines_to_dial(free_only) == round(predictive.START_RATIO * 10 / 0.1) == 38
    assert lines_to_dial(with_soon) == round(predictive.START_RATIO * (10 + 20 * chance) / 0.1) == 43
    # A longer handle time makes an agent about to be free less likely to be free in time.
    slow = _predictive(agents_free=10, answer_rate=0.1, avg_handle_seconds=120.0, agents_soon_free=20)
    assert lines_to_dial(free_only) < lines_to_dial(slow) < lines_to_dial(with_soon)


def test_predictive_pacing_counts_the_answers_still_to_come_from_calls_ringing() -> None:
    fresh = _predictive(agents_free=4, answer_rate=0.25, calls_placing=2)
    aged = _predictive(agents_free=4, answer_rate=0.25, calls_placing=2, placing_ages=(20.0, 30.0))

    # Two calls just placed are 0.5 answers to come: (1.52 - 0.5) / 0.25 = 4 more calls.
    assert lines_to_dial(fresh) == 4
    # Two calls past the longest live answer (12 s) will not be answered: nothing to subtract.
    assert lines_to_dial(aged) == 6


def test_predictive_pacing_places_nothing_while_answered_calls_wait_for_the_free_agents() -> None:
    assert lines_to_dial(_predictive(agents_free=2, calls_waiting=1)) == 0


def test_predictive_pacing_never_floods_the_lines_for_a_dead_list() -> None:
    assert lines_to_dial(_predictive(agents_free=2, answer_rate=0.01)) == 2 * predictive.MAX_LINES_PER_AGENT


def test_predictive_pacing_falls_back_to_progressive_when_the_abandon_rate_nears_the_cap() -> None:
    cap = 0.03
    near = cap * predictive.FALLBACK_SHARE
    at_risk = _predictive(abandon_rate=near, max_abandon_rate=cap, answered=500, calls_placing=1)
    under = _predictive(abandon_rate=near - 0.005, max_abandon_rate=cap, answered=500, calls_placing=1)

    assert lines_to_dial(at_risk) == 3  # one per free agent, less the call being placed
    assert lines_to_dial(under) > 3


def test_predictive_pacing_with_nothing_measured_to_pace_on_dials_progressively() -> None:
    assert lines_to_dial(_predictive(answer_rate=0.0)) == 4


def test_the_controller_slows_down_while_abandons_run_above_its_set_point_and_speeds_up_below() -> None:
    high = _predictive(agents_free=10, abandon_rate=0.028, max_abandon_rate=0.03, answered=1000)
    low = _predictive(agents_free=10, abandon_rate=0.0, max_abandon_rate=0.03, answered=1000)

    state_high = state_low = predictive.ControllerState()
    for _ in range(5000):
        state_high = pacing_decide(high, state=state_high).state
        state_low = pacing_decide(low, state=state_low).state

    assert state_high.ratio < predictive.NEUTRAL_RATIO < state_low.ratio
    assert lines_to_dial(high, state=state_high) < lines_to_dial(high) < lines_to_dial(high, state=state_low)
    # The ratio stays within its bounds however long the error lasts.
    assert predictive.RATIO_BOUNDS[0] <= state_high.ratio and state_low.ratio <= predictive.RATIO_BOUNDS[1]


def test_the_controller_holds_until_enough_answered_calls_were_measured() -> None:
    noisy = _predictive(
        abandon_rate=0.02, max_abandon_rate=0.03, answered=predictive.MIN_ANSWERED_FOR_FEEDBACK - 1
    )

    assert pacing_decide(noisy).state == predictive.ControllerState()


def test_the_tick_keeps_the_controller_state_in_the_cache_per_campaign() -> None:
    low = _predictive(abandon_rate=0.0, max_abandon_rate=0.03, answered=1000)

    for _ in range(3):
        campaign_lines_to_dial(campaign_id=7, inp=low)

    stored = predictive.state_load(7)
    assert stored.ratio > predictive.NEUTRAL_RATIO
    assert stored.integral == pytest.approx(3 * predictive.INTEGRAL_GAIN)
    assert predictive.state_load(8) == predictive.ControllerState()  # another campaign's is its own


def test_a_lost_controller_state_restarts_at_the_neutral_ratio() -> None:
    cache.set("campaigns:dialer:predictive:7", "garbled", 60)

    assert predictive.state_load(7) == predictive.ControllerState()
    assert campaign_lines_to_dial(campaign_id=7, inp=_predictive()) == 6


def test_progressive_and_power_ticks_leave_no_controller_state() -> None:
    campaign_lines_to_dial(
        campaign_id=9, inp=PacingInput(mode=DialMode.POWER, agents_free=2, lines_per_agent=2)
    )

    assert cache.get("campaigns:dialer:predictive:9") is None
    assert pacing.lines_power(PacingInput(mode=DialMode.POWER, agents_free=3, lines_per_agent=2.5)) == 7
