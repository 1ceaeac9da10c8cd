"""The simulated customers' end of campaign calls, for the demo, the tests and the pacing
benchmark.

Live (`make run`): while the built-in SimulatorGateway places the calls (no provider
registered), `simulator_report_due` plays the provider's status callbacks: every outbound call
still dialing or ringing whose simulated ring time has passed is reported through
interaction_call_progress as the voice simulator (ringing after RINGING_AFTER, then answered,
busy, no answer, machine or failed). What a call does is drawn from SimulatedOdds by a random
generator seeded with the seed and the interaction's id, so a call gets the same answer however
often it is asked about, on any worker. An unanswered call rings at least MIN_NO_ANSWER_RING
seconds (SimulatedOdds refuses a shorter no-answer ring). Optionally, for the demo only, the
simulated customer also hangs up an answered campaign call after its simulated talk time
(settings.DIALER_SIMULATOR_HANGS_UP; off by default, so a person at the desk ends their calls).

Virtual (`manage.py simulate_dialer`): `dialer_simulate` runs a campaign's dialer against a
pool of simulated leads on a virtual clock, no database: the pacing functions decide each
tick, calls resolve as the odds say, agents handle answered calls, answered calls nobody takes
within two seconds are abandoned. It reports occupancy, contacts per agent-hour, abandon rate
and dials, and audits each dial against the calling window and do-not-call.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import math
import random
import zoneinfo
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.campaigns.dialer import pacing, predictive
from apps.campaigns.models import EARLIEST_LOCAL, LATEST_LOCAL, DialMode
from apps.core.actors import SystemActor
from apps.core.exceptions import DomainError
from apps.interactions import voice
from apps.interactions.models import (
    PLACING_STATUSES,
    CallOutcome,
    Channel,
    Direction,
    Interaction,
    InteractionStatus,
)

logger = logging.getLogger(__name__)

SIMULATOR = SystemActor("voice simulator")
# A call is reported ringing this long after it was placed (when it rings at all).
RINGING_AFTER = 1.0
# An unanswered call rings at least this long before it is given up (no earlier "no answer").
MIN_NO_ANSWER_RING = 15.0
# Calls looked at per run at most (the next second's run takes the rest).
REPORT_BATCH = 500
INVALID = "invalid"
OUTCOMES = (CallOutcome.ANSWERED, CallOutcome.BUSY, CallOutcome.NO_ANSWER, CallOutcome.MACHINE, INVALID)


@dataclass(frozen=True)
class SimulatedOdds:
    """How simulated calls go: the share of each outcome (they add up to 1) and, in seconds,
    the range each one's ring time is drawn from (uniformly), and the talk time of an answered
    call (the live simulator's optional hang-up)."""

    answer: float = 0.30
    busy: float = 0.10
    no_answer: float = 0.50
    machine: float = 0.05
    invalid: float = 0.05
    answer_ring: tuple[float, float] = (4.0, 12.0)
    busy_ring: tuple[float, float] = (2.0, 4.0)
    no_answer_ring: tuple[float, float] = (25.0, 30.0)
    machine_ring: tuple[float, float] = (6.0, 15.0)
    invalid_ring: tuple[float, float] = (1.0, 3.0)
    talk: tuple[float, float] = (60.0, 240.0)

    def __post_init__(self) -> None:
        shares = self.shares()
        if any(share < 0 for _, share in shares):
            raise ValueError("Outcome shares cannot be negative.")
        if not math.isclose(sum(share for _, share in shares), 1.0, abs_tol=1e-9):
            raise ValueError("The outcome shares must add up to 1.")
        for name in ("answer_ring", "busy_ring", "no_answer_ring", "machine_ring", "invalid_ring", "talk"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} must be a range (shortest, longest) of seconds.")
        if self.no_answer_ring[0] < MIN_NO_ANSWER_RING:
            raise ValueError(f"An unanswered call rings at least {MIN_NO_ANSWER_RING:.0f} seconds.")

    def shares(self) -> list[tuple[str, float]]:
        return [
            (CallOutcome.ANSWERED.value, self.answer),
            (CallOutcome.BUSY.value, self.busy),
            (CallOutcome.NO_ANSWER.value, self.no_answer),
            (CallOutcome.MACHINE.value, self.machine),
            (INVALID, self.invalid),
        ]

    def ring_range(self, outcome: str) -> tuple[float, float]:
        return {
            CallOutcome.ANSWERED: self.answer_ring,
            CallOutcome.BUSY: self.busy_ring,
            CallOutcome.NO_ANSWER: self.no_answer_ring,
            CallOutcome.MACHINE: self.machine_ring,
            INVALID: self.invalid_ring,
        }[outcome]


DEFAULT_ODDS = SimulatedOdds()
# The pacing benchmark's calls: 30% live answers after 4-12 s of ringing, 55% no answer given
# up after 25 s, 10% busy after 3 s, 5% invalid numbers failing after 2 s.
BENCHMARK_ODDS = SimulatedOdds(
    answer=0.30,
    busy=0.10,
    no_answer=0.55,
    machine=0.0,
    invalid=0.05,
    answer_ring=(4.0, 12.0),
    busy_ring=(3.0, 3.0),
    no_answer_ring=(25.0, 25.0),
    invalid_ring=(2.0, 2.0),
)


@dataclass(frozen=True)
class SimulatedCall:
    outcome: str
    """answered, busy, no_answer, machine or invalid."""
    ring_seconds: float
    talk_seconds: float

    @property
    def rings(self) -> bool:
        """Whether the customer's phone rings at all (a busy line or a bad number does not)."""
        return self.outcome not in (CallOutcome.BUSY, INVALID)


def draw_call(rng: random.Random, odds: SimulatedOdds) -> SimulatedCall:
    """One call's outcome, ring time and talk time, from `rng`."""
    draw = rng.random()
    outcome = INVALID
    total = 0.0
    for name, share in odds.shares():
        total += share
        if draw < total:
            outcome = name
            break
    ring = rng.uniform(*odds.ring_range(outcome))
    if outcome == CallOutcome.NO_ANSWER:
        ring = max(ring, MIN_NO_ANSWER_RING)
    return SimulatedCall(outcome=outcome, ring_seconds=ring, talk_seconds=rng.uniform(*odds.talk))


def simulated_call(
    *, interaction_id: int, seed: int = 0, odds: SimulatedOdds = DEFAULT_ODDS
) -> SimulatedCall:
    """What the simulated customer does with call `interaction_id`: the same for the same seed
    and id, whoever asks and however often."""
    return draw_call(random.Random(f"voice simulator:{seed}:{interaction_id}"), odds)


@dataclass
class SimulatorReport:
    ringing: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    hung_up: int = 0


def simulator_seed() -> int:
    return int(getattr(settings, "DIALER_SIMULATOR_SEED", 0))


def simulator_hangs_up() -> bool:
    return bool(getattr(settings, "DIALER_SIMULATOR_HANGS_UP", False))


def _report(pk: int, outcome: str, detail: str) -> bool:
    from apps.interactions.services.outbound import interaction_call_progress

    try:
        interaction_call_progress(actor=SIMULATOR, interaction_id=pk, outcome=outcome, detail=detail)
    except DomainError as exc:  # the call moved on meanwhile (a supervisor, the dial timer)
        logger.info("voice simulator: call #%s not reported %s: %s", pk, outcome, exc)
        return False
    return True


# What simulated customers press after a broadcast's message, per action: (key, chance).
BROADCAST_KEYS: dict[str, tuple[tuple[str, float], ...]] = {
    "press_one": (("1", 0.3),),
    "appointment": (("1", 0.6), ("2", 0.2)),
    "message_only": (),
}


def simulated_keys(*, interaction_id: int, seed: int, action: str) -> str:
    """The keys the simulated customer of broadcast call `interaction_id` presses (the same for
    the same seed and id): "" for none."""
    draw = random.Random(f"voice simulator keys:{seed}:{interaction_id}").random()
    for key, chance in BROADCAST_KEYS.get(action, ()):
        if draw < chance:
            return key
        draw -= chance
    return ""


def _broadcast_actions(interaction_ids: Sequence[int]) -> dict[int, str]:
    """Interaction id -> its broadcast action, for the calls among these a broadcast placed."""
    if not interaction_ids:
        return {}
    from apps.campaigns.models import LeadAttempt

    return {
        int(pk): str(action)
        for pk, action in LeadAttempt.objects.filter(
            interaction_id__in=interaction_ids, campaign__dial_mode=DialMode.BROADCAST
        ).values_list("interaction_id", "campaign__broadcast_action")
    }


def _report_keys(pk: int, keys: str) -> str:
    """Report a broadcast call's keys; returns what they did ("" when the call had moved on)."""
    from apps.campaigns.services.broadcast import broadcast_keys

    try:
        done = broadcast_keys(actor=SIMULATOR, interaction_id=pk, keys=keys)
    except DomainError as exc:
        logger.info("voice simulator: broadcast call #%s keys not reported: %s", pk, exc)
        return ""
    return "" if done == "ignored" else f"broadcast {done}"


def simulator_report_due(
    *,
    now: dt.datetime | None = None,
    seed: int | None = None,
    odds: SimulatedOdds = DEFAULT_ODDS,
    hang_up: bool | None = None,
) -> SimulatorReport:
    """Report what the simulated customers did with the outbound calls whose moment has come
    (beat, every second): "ringing" RINGING_AFTER after the dial for a call that rings, then its
    outcome once its ring time has passed (an invalid number as "failed"). Counts from the
    dial (Interaction.dialed_at; created_at for a call without it). With `hang_up`
    (settings.DIALER_SIMULATOR_HANGS_UP by default; the demo's option), an answered campaign
    call that is active with an agent is ended (interaction_end) after its simulated talk time.
    Only while the built-in SimulatorGateway places calls: a real provider's calls are never
    answered for it. Idempotent: interaction_call_progress ignores a report that no longer
    applies, and each call's answer is the same on every run."""
    report = SimulatorReport()
    if not isinstance(voice.gateway(), voice.SimulatorGateway):
        return report
    from apps.interactions.services.lifecycle import interaction_end

    now = now or timezone.now()
    seed = simulator_seed() if seed is None else seed
    hang_up = simulator_hangs_up() if hang_up is None else hang_up
    placing = (
        Interaction.objects.filter(
            status__in=PLACING_STATUSES, direction=Direction.OUTBOUND, channel=Channel.VOICE
        )
        .annotate(placed_at=Coalesce("dialed_at", "created_at"))
        .order_by("placed_at", "pk")
        .values_list("pk", "status", "placed_at")[:REPORT_BATCH]
    )
    placing_rows = list(placing)
    broadcasts = _broadcast_actions([pk for pk, _, _ in placing_rows])
    for pk, status, placed_at in placing_rows:
        call = simulated_call(interaction_id=pk, seed=seed, odds=odds)
        rung = (now - placed_at).total_seconds()
        if rung >= call.ring_seconds:
            outcome = CallOutcome.FAILED.value if call.outcome == INVALID else call.outcome
            detail = "number not in service (simulated)" if call.outcome == INVALID else "voice simulator"
            if outcome == CallOutcome.ANSWERED and pk in broadcasts:
                # A broadcast's answer: the customer hears the message, then presses a key (or none).
                done = _report_keys(pk, simulated_keys(interaction_id=pk, seed=seed, action=broadcasts[pk]))
                if done:
                    report.outcomes[done] = report.outcomes.get(done, 0) + 1
            elif _report(pk, outcome, detail):
                report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
        elif status == InteractionStatus.DIALING and call.rings and rung >= RINGING_AFTER:
            report.ringing += _report(pk, "ringing", "voice simulator")
    if hang_up:
        shortest = dt.timedelta(seconds=odds.talk[0])
        talking = Interaction.objects.filter(
            status=InteractionStatus.ACTIVE,
            direction=Direction.OUTBOUND,
            channel=Channel.VOICE,
            call_outcome=CallOutcome.ANSWERED,
            accepted_at__lte=now - shortest,
            lead_attempt__isnull=False,
        ).values_list("pk", "accepted_at")[:REPORT_BATCH]
        for pk, accepted_at in talking:
            call = simulated_call(interaction_id=pk, seed=seed, odds=odds)
            if accepted_at is None or (now - accepted_at).total_seconds() < call.talk_seconds:
                continue
            try:
                interaction_end(actor=SIMULATOR, interaction_id=pk)
            except DomainError as exc:
                logger.info("voice simulator: call #%s not hung up: %s", pk, exc)
                continue
            report.hung_up += 1
    return report


# The virtual dialer (manage.py simulate_dialer, the pacing benchmark): no database.

VIRTUAL_MODES = (DialMode.PROGRESSIVE, DialMode.POWER, DialMode.PREDICTIVE)
# Monday 2 March 2026, 16:00 UTC: 11:00 in New York, 08:00 in Los Angeles, 06:00 in Honolulu.
DEFAULT_START = dt.datetime(2026, 3, 2, 16, 0, tzinfo=dt.UTC)
# Where the simulated leads live (zone, share): a US list, west and Pacific zones included so
# that the window refuses some of them in the morning.
LEAD_ZONES: tuple[tuple[str, float], ...] = (
    ("America/New_York", 0.40),
    ("America/Chicago", 0.25),
    ("America/Denver", 0.08),
    ("America/Los_Angeles", 0.20),
    ("America/Anchorage", 0.04),
    ("Pacific/Honolulu", 0.03),
)
ABANDON_AFTER_SECONDS = 2.0
# The tick's measuring window for the answer rate and handle time (apps.campaigns.dialer.tick).
RECENT_SECONDS = 3600.0
MIN_FINISHED_CALLS = 20
MIN_HANDLED_CALLS = 5


def _clock(text: str) -> dt.time:
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))


LEGAL_START, LEGAL_END = _clock(EARLIEST_LOCAL), _clock(LATEST_LOCAL)


def contact_allowed(*, zones: Sequence[str], do_not_call: bool, at: dt.datetime) -> str:
    """The compliance rules the virtual dialer applies, as a pure check: "" when a call to a
    lead in `zones` (every zone it may be in) may go out at `at`, else the rule that refuses it
    ("dnc", "window": outside 08:00-21:00 local in one of its zones)."""
    if do_not_call:
        return "dnc"
    for name in zones:
        local = at.astimezone(zoneinfo.ZoneInfo(name)).time()
        if not LEGAL_START <= local < LEGAL_END:
            return "window"
    return ""


@dataclass(frozen=True)
class VirtualLead:
    zones: tuple[str, ...]
    do_not_call: bool


class LeadPool:
    """An endless list of simulated leads: each in one zone of LEAD_ZONES, dnc_share of them on
    a do-not-call list."""

    def __init__(self, rng: random.Random, *, dnc_share: float, zones: Sequence[tuple[str, float]]) -> None:
        self.rng = rng
        self.dnc_share = dnc_share
        self.names = [name for name, _ in zones]
        self.weights = [share for _, share in zones]

    def next(self) -> VirtualLead:
        zone = self.rng.choices(self.names, weights=self.weights)[0]
        return VirtualLead(zones=(zone,), do_not_call=self.rng.random() < self.dnc_share)


@dataclass(frozen=True)
class VirtualConfig:
    mode: str = DialMode.PREDICTIVE
    agents: int = 20
    hours: float = 8.0
    seed: int = 1
    odds: SimulatedOdds = BENCHMARK_ODDS
    handle_seconds: float = 180.0
    handle: str = "exponential"
    """"exponential" (mean handle_seconds) or "fixed"."""
    tick_seconds: float = 1.0
    lines_per_agent: float = 2.0
    max_abandon_rate: float = 0.03
    start: dt.datetime = DEFAULT_START
    dnc_share: float = 0.05
    zones: tuple[tuple[str, float], ...] = LEAD_ZONES

    def __post_init__(self) -> None:
        if self.mode not in VIRTUAL_MODES:
            raise ValueError(f"{self.mode!r} is not a dial mode the dialer ticks.")
        if self.agents < 1 or self.hours <= 0 or self.tick_seconds <= 0 or self.handle_seconds <= 0:
            raise ValueError("Agents, hours, tick and handle time must be positive.")
        if self.handle not in ("exponential", "fixed"):
            raise ValueError("Handle time is 'exponential' or 'fixed'.")


@dataclass(frozen=True)
class VirtualResult:
    mode: str
    agents: int
    hours: float
    dials: int
    answered: int
    connected: int
    abandoned: int
    handle_seconds: float
    """Talk plus wrap-up inside the run, all agents together."""
    refused_window: int
    refused_dnc: int
    dials_outside_window: int
    dials_to_dnc: int
    max_wait_seconds: float
    """Longest wait of an answered call for its agent."""

    @property
    def occupancy(self) -> float:
        """(Talk + wrap-up) / logged-in time."""
        return self.handle_seconds / (self.agents * self.hours * 3600)

    @property
    def contacts_per_agent_hour(self) -> float:
        return self.connected / (self.agents * self.hours)

    @property
    def abandon_rate(self) -> float:
        """Abandoned / answered calls."""
        return self.abandoned / self.answered if self.answered else 0.0


@dataclass
class _Call:
    placed_at: float
    outcome: SimulatedCall
    agent: int | None


# Event kinds, in the order they are taken at one instant: a freed agent takes a waiting call
# before that call's two seconds run out; a resolution before the tick that reads it.
_AGENT_FREE, _RESOLVE, _ABANDON = 0, 1, 2


class _Run:
    def __init__(self, config: VirtualConfig) -> None:
        self.c = config
        self.horizon = config.hours * 3600
        rng_base = f"virtual dialer:{config.seed}:{config.mode}"
        self.call_rng = random.Random(f"{rng_base}:calls")
        self.handle_rng = random.Random(f"{rng_base}:handle")
        self.pool = LeadPool(
            random.Random(f"{rng_base}:leads"), dnc_share=config.dnc_share, zones=config.zones
        )
        self.events: list[tuple[float, int, int, int]] = []
        self.seq = 0
        self.free: deque[int] = deque(range(config.agents))  # longest idle first
        self.busy_since: dict[int, float] = {}
        self.busy_handle: dict[int, float] = {}
        self.calls: dict[int, _Call] = {}
        self.waiting: deque[tuple[int, float]] = deque()
        self.next_call = 0
        self.finished: deque[tuple[float, bool]] = deque()  # (at, answered) of the last hour
        self.handled: deque[tuple[float, float]] = deque()  # (at, handle) of the last hour
        self.state = predictive.ControllerState()
        self.dials = self.answered = self.connected = self.abandoned = 0
        self.handle_total = 0.0
        self.refused = {"window": 0, "dnc": 0}
        self.audit = {"window": 0, "dnc": 0}
        self.max_wait = 0.0

    def push(self, at: float, kind: int, ref: int) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, kind, self.seq, ref))

    def handle_time(self) -> float:
        if self.c.handle == "fixed":
            return self.c.handle_seconds
        return self.handle_rng.expovariate(1.0 / self.c.handle_seconds)

    def connect(self, agent: int, at: float) -> None:
        handle = self.handle_time()
        self.connected += 1
        self.busy_since[agent] = at
        self.busy_handle[agent] = handle
        self.handle_total += min(at + handle, self.horizon) - at
        self.push(at + handle, _AGENT_FREE, agent)

    def agent_free(self, agent: int, at: float) -> None:
        if self.busy_since.pop(agent, None) is not None:
            self.handled.append((at, self.busy_handle.pop(agent)))
        if self.waiting:
            call_id, answered_at = self.waiting.popleft()
            self.max_wait = max(self.max_wait, at - answered_at)
            self.calls.pop(call_id, None)
            self.connect(agent, at)
        else:
            self.free.append(agent)

    def resolve(self, call_id: int, at: float) -> None:
        call = self.calls[call_id]
        answered = call.outcome.outcome == CallOutcome.ANSWERED
        self.finished.append((at, answered))
        if not answered:
            del self.calls[call_id]
            if call.agent is not None:
                self.agent_free(call.agent, at)
            return
        self.answered += 1
        if call.agent is not None:
            del self.calls[call_id]
            self.connect(call.agent, at)
        elif self.free:
            del self.calls[call_id]
            self.connect(self.free.popleft(), at)
        else:
            self.waiting.append((call_id, at))
            self.push(at + ABANDON_AFTER_SECONDS, _ABANDON, call_id)

    def abandon(self, call_id: int) -> None:
        for index, (waiting_id, _) in enumerate(self.waiting):
            if waiting_id == call_id:
                del self.waiting[index]
                del self.calls[call_id]
                self.abandoned += 1
                return

    def measure(self, now: float) -> pacing.PacingInput:
        while self.finished and self.finished[0][0] < now - RECENT_SECONDS:
            self.finished.popleft()
        while self.handled and self.handled[0][0] < now - RECENT_SECONDS:
            self.handled.popleft()
        defaults = pacing.PacingInput(mode=self.c.mode, agents_free=0)
        finished = len(self.finished)
        answer_rate = (
            sum(answered for _, answered in self.finished) / finished
            if finished >= MIN_FINISHED_CALLS
            else defaults.answer_rate
        )
        handled = len(self.handled)
        handle = (
            sum(seconds for _, seconds in self.handled) / handled
            if handled >= MIN_HANDLED_CALLS
            else defaults.avg_handle_seconds
        )
        waiting = {call_id for call_id, _ in self.waiting}
        ages = tuple(
            now - call.placed_at
            for call_id, call in self.calls.items()
            if call.agent is None and call_id not in waiting
        )
        ending_by = max(0.0, handle - defaults.avg_ring_seconds)
        soon_free = sum(1 for since in self.busy_since.values() if now - since >= ending_by)
        return pacing.PacingInput(
            mode=self.c.mode,
            agents_free=len(self.free),
            agents_soon_free=soon_free if self.c.mode == DialMode.PREDICTIVE else 0,
            calls_placing=len(ages),
            calls_waiting=len(self.waiting),
            lines_per_agent=self.c.lines_per_agent,
            answer_rate=answer_rate,
            avg_handle_seconds=handle,
            abandon_rate=self.abandoned / self.answered if self.answered else 0.0,
            max_abandon_rate=self.c.max_abandon_rate,
            answered=self.answered,
            placing_ages=ages,
            answer_seconds=self.c.odds.answer_ring,
        )

    def lines(self, now: float) -> int:
        """The product's pacing (the tick's pacing.campaign_lines_to_dial without the cache: the
        controller's state stays in this run)."""
        decision = pacing.pacing_decide(self.measure(now), state=self.state)
        self.state = decision.state
        return decision.lines

    def dial(self, now: float) -> None:
        at = self.c.start + dt.timedelta(seconds=now)
        lead = self.pool.next()
        # The pool is endless: a refused lead stays for its own time, the dialer takes the next.
        for _ in range(1000):
            rule = contact_allowed(zones=lead.zones, do_not_call=lead.do_not_call, at=at)
            if not rule:
                break
            self.refused[rule] += 1
            lead = self.pool.next()
        else:
            return
        # The audit of what went out: every placed call re-checked at its moment.
        if lead.do_not_call:
            self.audit["dnc"] += 1
        if contact_allowed(zones=lead.zones, do_not_call=False, at=at):
            self.audit["window"] += 1
        agent = self.free.popleft() if self.c.mode == DialMode.PROGRESSIVE and self.free else None
        if self.c.mode == DialMode.PROGRESSIVE and agent is None:
            return
        outcome = draw_call(self.call_rng, self.c.odds)
        self.next_call += 1
        self.calls[self.next_call] = _Call(placed_at=now, outcome=outcome, agent=agent)
        self.dials += 1
        self.push(now + outcome.ring_seconds, _RESOLVE, self.next_call)

    def run(self) -> VirtualResult:
        ticks = int(self.horizon // self.c.tick_seconds)
        for tick in range(ticks):
            now = tick * self.c.tick_seconds
            self.advance(now)
            for _ in range(self.lines(now)):
                self.dial(now)
        self.advance(self.horizon)
        return VirtualResult(
            mode=self.c.mode,
            agents=self.c.agents,
            hours=self.c.hours,
            dials=self.dials,
            answered=self.answered,
            connected=self.connected,
            abandoned=self.abandoned,
            handle_seconds=self.handle_total,
            refused_window=self.refused["window"],
            refused_dnc=self.refused["dnc"],
            dials_outside_window=self.audit["window"],
            dials_to_dnc=self.audit["dnc"],
            max_wait_seconds=self.max_wait,
        )

    def advance(self, until: float) -> None:
        while self.events and self.events[0][0] <= until:
            at, kind, _, ref = heapq.heappop(self.events)
            if kind == _AGENT_FREE:
                self.agent_free(ref, at)
            elif kind == _RESOLVE:
                self.resolve(ref, at)
            else:
                self.abandon(ref)


def dialer_simulate(config: VirtualConfig) -> VirtualResult:
    """Run one dial mode for config.hours on a virtual clock (see the module): a function of
    the config (its seed included), so a run repeats exactly."""
    return _Run(config).run()
