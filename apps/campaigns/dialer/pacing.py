"""Pacing: how many new calls a campaign's tick places, by dial mode. Pure functions of what the
tick measured (PacingInput), so the live dialer, `manage.py simulate_dialer` and the benchmarks
run the same decisions.

- preview: none (the agent dials from the preview card);
- progressive: one call per free agent, less the calls already being placed;
- power: lines_per_agent calls per free agent, less the calls already being placed;
- predictive: see lines_predictive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


def lines_progressive(inp: PacingInput) -> int:
    return max(0, inp.agents_free - inp.calls_placing - inp.calls_waiting)


def lines_power(inp: PacingInput) -> int:
    wanted = math.floor(inp.agents_free * max(1.0, inp.lines_per_agent))
    return max(0, wanted - inp.calls_placing - inp.calls_waiting)


# Predictive dialing never places more than this many calls per agent it expects to be free,
# however low the answer rate measured (a list of dead numbers must not flood the trunks).
MAX_LINES_PER_AGENT = 5
# The abandon rate at which predictive dialing falls back to progressive: a share of the cap,
# so that the rolling rate turns before it reaches the cap rather than after.
ABANDON_FALLBACK_SHARE = 0.8


def lines_predictive(inp: PacingInput) -> int:
    """Calls for the agents free now and about to be free, at the measured answer rate: enough
    calls that the answered ones (placing ones included) cover the agents who will be free, less
    the answered calls already waiting. Falls back to progressive when the abandon rate nears
    its cap (ABANDON_FALLBACK_SHARE of it) or nothing was measured to pace on."""
    if inp.abandon_rate >= inp.max_abandon_rate * ABANDON_FALLBACK_SHARE or inp.answer_rate <= 0:
        return lines_progressive(inp)
    expected_free = inp.agents_free + inp.agents_soon_free
    answers_needed = expected_free - inp.calls_waiting
    if answers_needed <= 0:
        return 0
    wanted = min(math.floor(answers_needed / inp.answer_rate), expected_free * MAX_LINES_PER_AGENT)
    return max(0, wanted - inp.calls_placing)


def lines_to_dial(inp: PacingInput) -> int:
    """How many calls to place now."""
    if inp.mode == DialMode.PROGRESSIVE:
        return lines_progressive(inp)
    if inp.mode == DialMode.POWER:
        return lines_power(inp)
    if inp.mode == DialMode.PREDICTIVE:
        return lines_predictive(inp)
    return 0
