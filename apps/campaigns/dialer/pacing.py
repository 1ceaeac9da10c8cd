"""Pacing: how many new calls a campaign's tick places, by dial mode. Functions of what the
tick measured (PacingInput) and, in predictive mode, of the controller's state, so the live
dialer, `manage.py simulate_dialer` and the benchmarks run the same decisions.

- preview: none (the agent dials from the preview card);
- progressive: one call per free agent, less the calls already being placed;
- power: lines_per_agent calls per free agent, less the calls already being placed;
- predictive: apps.campaigns.dialer.predictive's controller (lines_predictive), progressive
  once the abandon rate reaches its cap.

The tick calls campaign_lines_to_dial, which keeps the predictive controller's state in the
cache under the campaign's id; pacing_decide is the same decision with the state passed in and
returned (the virtual dialer keeps it in its run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from apps.campaigns.dialer import predictive
from apps.campaigns.models import DialMode


@dataclass(frozen=True)
class PacingInput:
    mode: str
    agents_free: int
    """Agents of the campaign available now with a free voice slot and nothing offered."""
    agents_soon_free: int = 0
    """Agents in wrap-up or on a call expected to end within the next ring time."""
    calls_placing: int = 0
    """Calls dialled and not answered yet (dialing, ringing) that no agent is reserved for (a
    progressive call's reserved agent is not free already: counting the call too would take
    two lines for one)."""
    calls_waiting: int = 0
    """Answered calls waiting for an agent."""
    lines_per_agent: float = 1.0
    answer_rate: float = 0.3
    """Answered (live) calls / calls placed, measured over a recent window."""
    avg_handle_seconds: float = 180.0
    """Talk plus wrap-up of a connected call."""
    avg_ring_seconds: float = 20.0
    """From dial to answer or give-up."""
    abandon_rate: float = 0.0
    """Abandoned / answered calls over the rolling 30 days."""
    max_abandon_rate: float = 0.03
    answered: int = 0
    """Answered calls the abandon rate was measured over (the controller steers by the rate only
    from predictive.MIN_ANSWERED_FOR_FEEDBACK of them)."""
    placing_ages: tuple[float, ...] | None = None
    """Seconds since each call counted in calls_placing was placed (a call that rang long
    without an answer is less likely to be answered); None: every one as just placed."""
    answer_seconds: tuple[float, float] = (4.0, 12.0)
    """The ring time of a live answer, shortest and longest (measured, else a typical one)."""


@dataclass(frozen=True)
class PacingDecision:
    lines: int
    state: predictive.ControllerState
    """The predictive controller's next state (the one passed in, in the other modes)."""


def lines_progressive(inp: PacingInput) -> int:
    return max(0, inp.agents_free - inp.calls_placing - inp.calls_waiting)


def lines_power(inp: PacingInput) -> int:
    wanted = math.floor(inp.agents_free * max(1.0, inp.lines_per_agent))
    return max(0, wanted - inp.calls_placing - inp.calls_waiting)


def lines_predictive(inp: PacingInput, state: predictive.ControllerState | None = None) -> PacingDecision:
    """Calls for the agents free now and about to be free, at the measured answer rate, paced
    by the abandon-rate controller (apps.campaigns.dialer.predictive); progressive when the
    abandon rate reaches its cap (predictive.FALLBACK_SHARE of it) or nothing was measured to
    pace on."""
    decision = predictive.decide(inp, state or predictive.ControllerState())
    lines = lines_progressive(inp) if decision.progressive else decision.lines
    return PacingDecision(lines=lines, state=decision.state)


def pacing_decide(inp: PacingInput, *, state: predictive.ControllerState | None = None) -> PacingDecision:
    """How many calls to place now, and the predictive controller's next state."""
    state = state or predictive.ControllerState()
    if inp.mode == DialMode.PREDICTIVE:
        return lines_predictive(inp, state)
    if inp.mode == DialMode.PROGRESSIVE:
        return PacingDecision(lines_progressive(inp), state)
    if inp.mode == DialMode.POWER:
        return PacingDecision(lines_power(inp), state)
    return PacingDecision(0, state)


def lines_to_dial(inp: PacingInput, *, state: predictive.ControllerState | None = None) -> int:
    """How many calls to place now (predictive: from `state`, a new controller's by default)."""
    return pacing_decide(inp, state=state).lines


def campaign_lines_to_dial(*, campaign_id: int, inp: PacingInput) -> int:
    """The tick's pacing: how many calls campaign `campaign_id` places now. In predictive mode
    the controller's state is read from the cache under the campaign's id and its next state
    written back (one tick per campaign at a time holds the tick's lock, so nothing races it;
    a lost state restarts the controller at its starting ratio)."""
    if inp.mode != DialMode.PREDICTIVE:
        return lines_to_dial(inp)
    decision = lines_predictive(inp, predictive.state_load(campaign_id))
    predictive.state_save(campaign_id, decision.state)
    return decision.lines
