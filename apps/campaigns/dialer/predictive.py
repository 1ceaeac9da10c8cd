"""Predictive pacing with abandon-rate feedback: how many calls to place now so that answered
calls meet agents as they come free, while the abandoned share of answered calls stays under the
campaign's cap. apps.campaigns.dialer.pacing.lines_predictive is this controller: the live tick,
`manage.py simulate_dialer` and the pacing benchmark all run it.

A function of what the tick measures (PacingInput) plus a small controller state kept between
ticks (ControllerState: the tick keeps it in the cache under the campaign's id, the virtual
dialer in its run; losing it only restarts the controller at its neutral ratio). Each tick:

1. Agents expected free: the free ones, plus each agent about to be free (wrap-up, or a call
   longer than the handle time less the ring time) weighted by the chance that they finish
   within the two seconds an answered call may wait for them: with handle times spread like an
   exponential of the measured mean (AHT), 1 - exp(-2 s / AHT). An exponential gives no warning
   of a call's end (an agent 170 s into a call is no likelier to finish in the next 8 s than
   one 10 s in), so each counts for that small chance only: the virtual runs show that
   dialling a full line for them, or for the chance they finish before the answer, buys a
   little occupancy at several times the abandons. The agents who do finish are free at a
   later tick and dialled for then; the calls placed meanwhile count among the answers to come.
2. Answers still to come from the calls already ringing: each call's chance of a live answer
   given how long it has rung without one, from the answer rate q and the ring times of live
   answers (uniform between answer_seconds): q S(age) / (q S(age) + 1 - q), S the share of
   live answers that come later than `age`. A call past the longest answer time counts 0.
3. Calls to place: (ratio x agents expected free - answers to come - answered calls waiting)
   / q, rounded to the nearest call, at most MAX_LINES_PER_AGENT per agent expected free. The
   ratio is the answers the dialer keeps coming per agent expected free.
4. The ratio is a PI controller on the abandon rate: the error is the set point (a share of
   the cap) minus the abandon rate measured (the 30 days' figure the cap is about), in units of
   the set point; the proportional part reacts to the rate now, the integral part removes the
   lasting offset (clamped: no wind-up while the rate is still noisy or the ratio at a bound).
   When the rate reaches the cap (FALLBACK_SHARE of it) the tick dials progressively (one call
   per free agent) until it is back under.

tests/benchmarks/test_dialer_pacing.py holds the goal (occupancy >= 0.90, abandons <= 3 % of
answered calls, contacts per agent-hour >= 1.15 x progressive).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.cache import cache

if TYPE_CHECKING:
    from apps.campaigns.dialer.pacing import PacingInput

# At most this many calls per agent expected free (a list of dead numbers must not flood the trunks).
MAX_LINES_PER_AGENT = 5
# The controller aims at this share of the campaign's abandon cap, leaving room for chance.
SET_POINT_SHARE = 0.85
# At this share of the cap the tick stops predicting and dials progressively until the rate is
# back under it. The controller already aims at SET_POINT_SHARE; the virtual runs show that a
# fallback below the cap itself (0.95 of it) costs about a point of occupancy and leaves the
# abandon rate where it was (2.4-2.8 % either way), as the rate hovers near the set point.
FALLBACK_SHARE = 1.0
# Answers kept coming per agent expected free with the abandon rate on its set point, as the
# virtual runs found it for a 20-agent team at a 30 % answer rate; the controller moves it
# within the bounds.
NEUTRAL_RATIO = 0.40
RATIO_BOUNDS = (0.2, 1.0)
# A new (or restarted) controller starts a little under neutral: until MIN_ANSWERED_FOR_FEEDBACK
# answered calls were measured it cannot tell a good list from a bad one.
START_RATIO = 0.38
# Gains on the error measured in units of the set point (error 1.0 = no abandon at all); the
# integral's per tick (a tick every 1-2 s).
PROPORTIONAL_GAIN = 0.02
INTEGRAL_GAIN = 0.0001
# Until this many answered calls were measured, the abandon rate is too noisy to steer by: the
# controller holds its ratio (and its integral).
MIN_ANSWERED_FOR_FEEDBACK = 30
# An answered call no agent takes within this is abandoned (apps.campaigns.outcomes.ABANDON_AFTER).
ABANDON_GRACE_SECONDS = 2.0
# The controller's state in the cache: a campaign paused longer than this starts again neutral.
STATE_CACHE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class ControllerState:
    """What the controller carries from one tick to the next (a lost state starts again here)."""

    integral: float = 0.0
    ratio: float = START_RATIO


@dataclass(frozen=True)
class PredictiveDecision:
    lines: int
    state: ControllerState
    progressive: bool
    """The abandon rate nears its cap (or nothing was measured to pace on): the caller dials
    progressively instead, and `lines` is 0."""
    expected_free: float
    answers_coming: float


def answer_chance(age: float, answer_rate: float, answer_seconds: tuple[float, float]) -> float:
    """The chance that a call ringing `age` seconds without an answer is answered live."""
    low, high = answer_seconds
    if age >= high:
        return 0.0
    later = 1.0 if age <= low else (high - age) / (high - low)
    return answer_rate * later / (answer_rate * later + 1.0 - answer_rate)


def soon_free_chance(*, avg_handle_seconds: float) -> float:
    """The chance that an agent about to be free finishes within the two seconds an answered
    call may wait for them (exponential handle times of mean avg_handle_seconds)."""
    return 1.0 - math.exp(-ABANDON_GRACE_SECONDS / max(1.0, avg_handle_seconds))


def controller_step(
    state: ControllerState, *, abandon_rate: float, max_abandon_rate: float, answered: int
) -> ControllerState:
    """One PI step on the abandon rate (see the module)."""
    if answered < MIN_ANSWERED_FOR_FEEDBACK or max_abandon_rate <= 0:
        return state
    set_point = max_abandon_rate * SET_POINT_SHARE
    error = (set_point - abandon_rate) / set_point
    low, high = RATIO_BOUNDS
    integral = state.integral + INTEGRAL_GAIN * error
    # Anti-windup: the integral alone never pushes the ratio past its bounds.
    integral = min(max(integral, low - NEUTRAL_RATIO), high - NEUTRAL_RATIO)
    ratio = min(max(NEUTRAL_RATIO + PROPORTIONAL_GAIN * error + integral, low), high)
    return ControllerState(integral=integral, ratio=ratio)


def cap_at_risk(*, abandon_rate: float, max_abandon_rate: float) -> bool:
    """Whether the abandon rate is near enough its cap that the tick dials progressively."""
    return max_abandon_rate > 0 and abandon_rate >= max_abandon_rate * FALLBACK_SHARE


def decide(inp: PacingInput, state: ControllerState) -> PredictiveDecision:
    """Calls to place now and the controller's next state (see the module). The calls counted in
    inp.calls_placing are aged by inp.placing_ages (every one as just placed without it)."""
    state = controller_step(
        state, abandon_rate=inp.abandon_rate, max_abandon_rate=inp.max_abandon_rate, answered=inp.answered
    )
    rate = inp.answer_rate
    if rate <= 0 or cap_at_risk(abandon_rate=inp.abandon_rate, max_abandon_rate=inp.max_abandon_rate):
        return PredictiveDecision(0, state, True, float(inp.agents_free), 0.0)
    chance = soon_free_chance(avg_handle_seconds=inp.avg_handle_seconds)
    expected_free = inp.agents_free + inp.agents_soon_free * chance
    ages = inp.placing_ages if inp.placing_ages is not None else (0.0,) * inp.calls_placing
    coming = sum(answer_chance(age, rate, inp.answer_seconds) for age in ages)
    needed = state.ratio * expected_free - coming - inp.calls_waiting
    if needed <= 0:
        return PredictiveDecision(0, state, False, expected_free, coming)
    lines = min(round(needed / rate), math.ceil(expected_free * MAX_LINES_PER_AGENT))
    return PredictiveDecision(max(0, lines), state, False, expected_free, coming)


def _state_key(campaign_id: int) -> str:
    return f"campaigns:dialer:predictive:{campaign_id}"


def state_load(campaign_id: int) -> ControllerState:
    """The campaign's controller state from the cache (neutral when there is none)."""
    stored = cache.get(_state_key(campaign_id))
    if not isinstance(stored, dict):
        return ControllerState()
    try:
        return ControllerState(integral=float(stored["integral"]), ratio=float(stored["ratio"]))
    except (KeyError, TypeError, ValueError):
        return ControllerState()


def state_save(campaign_id: int, state: ControllerState) -> None:
    cache.set(
        _state_key(campaign_id), {"integral": state.integral, "ratio": state.ratio}, STATE_CACHE_SECONDS
    )
