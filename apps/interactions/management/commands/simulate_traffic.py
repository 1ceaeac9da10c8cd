"""`manage.py simulate_traffic`: customers arriving in every active queue and simulated agents
working them, through the same services as real traffic, so the demo wallboard lives.

Customers: arrivals per queue follow a Poisson process (--rate per minute) over the queue's
channels weighted by --channels; each picks a demo customer and one of their contact points,
writes a first message on text channels, and waits an exponential --patience: still queued
(never offered) past it, the customer hangs up (interaction_abandon).

Agents: "sim-agent-NN" (created when missing, with the skills of apps.interactions.management.demo;
the human demo agents are never driven) go available, accept offers after --accept-delay, talk
for an exponential --handle-time (customer and agent messages alternate on text channels), end,
and wrap up after --wrap-up with a disposition of the queue's set (never a do-not-call or a
callback one: the demo's customers keep their consent and nobody gets fake callbacks). A
simulated agent that a timeout turned not ready goes available again.

Time is simulated in ticks of --tick seconds: every delay is drawn from one random generator
seeded with --seed and compared with the tick clock, so a run is a function of the seed and the
starting database (with --fast it does not wait for the wall clock, and repeats exactly). In the
live stack (`make run`) offers, timeouts and the human agent interleave with it, as they should.
SIGTERM or SIGINT ends the loop after the current tick; the simulated agents go offline and keep
what they hold until the next run picks it up.
"""

from __future__ import annotations

import logging
import math
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from apps.accounts.models import User
from apps.core.actors import SystemActor
from apps.core.exceptions import DomainError
from apps.customers.models import ContactPoint, ContactPointKind, Customer
from apps.interactions import services
from apps.interactions.management.demo import sim_agents_ensure
from apps.interactions.models import (
    HOLDING_STATUSES,
    TEXT_CHANNELS,
    AgentProfile,
    Channel,
    Direction,
    Disposition,
    Interaction,
    InteractionStatus,
    Presence,
    Queue,
)

logger = logging.getLogger(__name__)

# The simulated customers' side (arrivals, their messages, hang-ups) acts as the system does.
SIMULATOR = SystemActor("traffic simulator")
CUSTOMER_LINES = (
    "Hi, I have a question about my last invoice.",
    "My order has not arrived yet, can you check?",
    "I would like to upgrade my plan.",
    "The app logs me out every few minutes.",
    "Can I change the address on my account?",
    "Thanks, that helps.",
    "Could you send me that by email as well?",
)
AGENT_LINES = (
    "Thanks for reaching out, let me look into that.",
    "I can see your account, one moment please.",
    "That is done; anything else I can help with?",
    "I have sent you the details by email.",
    "Sorry for the trouble, I have fixed it on our side.",
)
SUBJECTS = ("Invoice question", "Order status", "Plan upgrade", "Login problem", "Address change")
REQUEUE_PRESENCE_EVERY_TICKS = 10


def _channel_mix(text: str) -> dict[str, float]:
    """ "voice=2,chat=3,email=1" -> weights; an unknown channel or a bad weight is an error."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        if name not in Channel.values:
            raise CommandError(f"--channels: {name!r} is not a channel ({', '.join(Channel.values)}).")
        try:
            mix[name] = float(weight or 1)
        except ValueError as error:
            raise CommandError(f"--channels: {weight!r} is not a weight.") from error
        if mix[name] < 0:
            raise CommandError("--channels: weights cannot be negative.")
    if not any(mix.values()):
        raise CommandError("--channels: give at least one channel with a positive weight.")
    return mix


@dataclass
class Settings:
    rate: float  # arrivals per minute per queue
    mix: dict[str, float]
    patience: float
    accept_delay: float
    handle_time: float
    wrap_up: float
    message_every: float
    tick: float


@dataclass
class Plan:
    """What a simulated agent will do next with one interaction, in simulated seconds."""

    accept_at: float | None = None
    dial_at: float | None = None
    end_at: float | None = None
    next_message_at: float | None = None
    customer_speaks: bool = False
    replied: bool = False
    wrap_at: float | None = None


@dataclass
class Stats:
    arrivals: int = 0
    turned_away: int = 0
    accepted: int = 0
    messages: int = 0
    ended: int = 0
    closed: int = 0
    abandoned: int = 0
    errors: int = 0

    def line(self) -> str:
        return ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in vars(self).items())


@dataclass
class Simulation:
    settings: Settings
    rng: random.Random
    agents: dict[int, User] = field(default_factory=dict)  # agent profile id -> its user
    queue_ids: list[int] = field(default_factory=list)
    customers: list[tuple[Customer, dict[str, list[str]]]] = field(default_factory=list)
    waiting: dict[int, float] = field(default_factory=dict)  # interaction id -> when the customer hangs up
    plans: dict[int, Plan] = field(default_factory=dict)
    stats: Stats = field(default_factory=Stats)
    clock: float = 0.0

    # -- set-up ----------------------------------------------------------------------------------

    def load(self, *, agent_count: int, queue_names: list[str]) -> None:
        queues = Queue.objects.filter(is_active=True).order_by("name")
        if queue_names:
            queues = queues.filter(name__in=queue_names)
        self.queue_ids = [q.pk for q in queues if set(q.channels or []) & set(self.settings.mix)]
        profiles = sim_agents_ensure(count=agent_count) if agent_count else []
        self.agents = {
            p.pk: p.user
            for p in AgentProfile.objects.filter(pk__in=[p.pk for p in profiles]).select_related("user")
        }
        points: dict[int, dict[str, list[str]]] = {}
        for customer_id, kind, value in (
            ContactPoint.objects.filter(customer__external_id__startswith="demo-", customer__is_erased=False)
            .order_by("customer_id", "pk")
            .values_list("customer_id", "kind", "value")
        ):
            points.setdefault(customer_id, {}).setdefault(kind, []).append(value)
        self.customers = [
            (c, points[c.pk])
            for c in Customer.objects.filter(pk__in=points).order_by("pk").only("pk", "first_name")
        ]
        # Customers still waiting from an earlier run keep waiting, with a fresh patience.
        for interaction_id in (
            Interaction.objects.filter(status=InteractionStatus.QUEUED, queue_id__in=self.queue_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        ):
            self.waiting[interaction_id] = self._after(self.settings.patience, exponential=True)

    def agents_available(self) -> None:
        """Simulated agents not available (a new run, a missed offer's no-answer) go available."""
        for agent_id, presence in (
            AgentProfile.objects.filter(pk__in=self.agents).order_by("pk").values_list("pk", "presence")
        ):
            if presence != Presence.AVAILABLE:
                self._do(
                    services.agent_set_presence,
                    actor=self.agents[agent_id],
                    agent_id=agent_id,
                    presence=Presence.AVAILABLE,
                )

    def agents_offline(self) -> None:
        for agent_id in sorted(self.agents):
            self._do(
                services.agent_set_presence,
                actor=self.agents[agent_id],
                agent_id=agent_id,
                presence=Presence.OFFLINE,
            )

    # -- one tick --------------------------------------------------------------------------------

    def step(self, tick_number: int) -> None:
        self.clock = tick_number * self.settings.tick
        if tick_number % REQUEUE_PRESENCE_EVERY_TICKS == 0:
            self.agents_available()
        self._arrivals()
        self._patience()
        self._agents()

    def _after(self, mean: float, *, exponential: bool = False) -> float:
        """When something with this mean delay happens: exponential or within +-50%."""
        if mean <= 0:
            return self.clock
        delay = self.rng.expovariate(1 / mean) if exponential else mean * self.rng.uniform(0.5, 1.5)
        return self.clock + delay

    def _poisson(self, mean: float) -> int:
        limit, count, product = math.exp(-mean), 0, self.rng.random()
        while product > limit:
            count += 1
            product *= self.rng.random()
        return count

    def _arrivals(self) -> None:
        per_tick = self.settings.rate / 60 * self.settings.tick
        for queue in Queue.objects.filter(pk__in=self.queue_ids).order_by("name"):
            channels = [c for c in queue.channels or [] if self.settings.mix.get(c, 0) > 0]
            if not channels:
                continue
            for _ in range(self._poisson(per_tick)):
                channel = self.rng.choices(channels, weights=[self.settings.mix[c] for c in channels])[0]
                self._arrive(queue, channel)

    def _arrive(self, queue: Queue, channel: str) -> None:
        customer, contact, name = self._caller(channel)
        try:
            interaction = services.interaction_enqueue(
                actor=SIMULATOR,
                queue=queue,
                channel=channel,
                customer=customer,
                contact=contact,
                subject=self.rng.choice(SUBJECTS) if channel == Channel.EMAIL else "",
            )
        except DomainError as error:  # full, closed: the customer is turned away
            logger.info("arrival in %s turned away: %s", queue.name, error)
            self.stats.turned_away += 1
            return
        self.stats.arrivals += 1
        if interaction.status == InteractionStatus.MISSED:  # after hours
            self.stats.turned_away += 1
            return
        if channel in TEXT_CHANNELS:
            self._message(interaction.pk, inbound=True, sender=name)
        self.waiting[interaction.pk] = self._after(self.settings.patience, exponential=True)

    def _caller(self, channel: str) -> tuple[Customer | None, str, str]:
        """A demo customer with a contact point for the channel, and that contact point."""
        kind = ContactPointKind.EMAIL if channel in {Channel.EMAIL, Channel.CHAT} else ContactPointKind.PHONE
        for _ in range(10):
            if not self.customers:
                break
            customer, points = self.rng.choice(self.customers)
            if points.get(kind):
                return customer, self.rng.choice(points[kind]), customer.first_name
        return None, "", "Visitor"

    def _patience(self) -> None:
        if not self.waiting:
            return
        statuses = dict(Interaction.objects.filter(pk__in=self.waiting).values_list("pk", "status"))
        for interaction_id in sorted(self.waiting):
            status = statuses.get(interaction_id)
            if status == InteractionStatus.OFFERED:
                continue  # ringing: the customer still waits (an expired offer queues it again)
            if status != InteractionStatus.QUEUED:
                del self.waiting[interaction_id]  # answered, finished or gone
            elif self.clock >= self.waiting[interaction_id]:
                del self.waiting[interaction_id]
                if self._do(services.interaction_abandon, actor=SIMULATOR, interaction_id=interaction_id):
                    self.stats.abandoned += 1

    def _agents(self) -> None:
        held = list(
            Interaction.objects.filter(agent_id__in=self.agents, status__in=HOLDING_STATUSES)
            .order_by("pk")
            .values_list("pk", "status", "channel", "agent_id", "queue_id", "direction", "call_outcome")
        )
        self.plans = {pk: plan for pk, plan in self.plans.items() if pk in {h[0] for h in held}}
        for pk, status, channel, agent_id, queue_id, direction, call_outcome in held:
            plan = self.plans.setdefault(pk, Plan())
            actor = self.agents[agent_id]
            if status == InteractionStatus.OFFERED:
                if plan.accept_at is None:
                    plan.accept_at = self._after(self.settings.accept_delay)
                elif self.clock >= plan.accept_at and self._do(
                    services.interaction_accept, actor=actor, interaction_id=pk
                ):
                    self.stats.accepted += 1
            elif status == InteractionStatus.ACTIVE and (
                direction == Direction.OUTBOUND and channel == Channel.VOICE and not call_outcome
            ):
                # An accepted preview: the agent reads the lead, then dials (or skips a refused dial).
                if plan.dial_at is None:
                    plan.dial_at = self._after(self.settings.accept_delay)
                elif self.clock >= plan.dial_at and not self._do(
                    services.interaction_preview_dial, actor=actor, interaction_id=pk
                ):
                    self._do(
                        services.interaction_preview_skip,
                        actor=actor,
                        interaction_id=pk,
                        reason="The call could not be placed",
                    )
            elif status == InteractionStatus.ACTIVE:
                self._talk(pk, channel, actor, plan)
            elif status == InteractionStatus.WRAP_UP:
                if plan.wrap_at is None:
                    plan.wrap_at = self._after(self.settings.wrap_up)
                elif self.clock >= plan.wrap_at:
                    disposition = self._disposition(queue_id)
                    if self._do(
                        services.interaction_wrap_up, actor=actor, interaction_id=pk, disposition=disposition
                    ):
                        self.stats.closed += 1

    def _talk(self, pk: int, channel: str, actor: User, plan: Plan) -> None:
        if plan.end_at is None:
            plan.end_at = max(
                self._after(self.settings.handle_time, exponential=True), self.clock + self.settings.tick
            )
            if channel in TEXT_CHANNELS:
                plan.next_message_at = self._after(self.settings.message_every)
            return
        if plan.next_message_at is not None and plan.next_message_at <= self.clock < plan.end_at:
            if self._message(pk, inbound=plan.customer_speaks, actor=actor):
                plan.replied |= not plan.customer_speaks
                plan.customer_speaks = not plan.customer_speaks
            plan.next_message_at = self._after(self.settings.message_every)
        if self.clock < plan.end_at:
            return
        if channel in TEXT_CHANNELS and not plan.replied:  # nobody closes a chat without answering
            plan.replied = self._message(pk, inbound=False, actor=actor)
        if self._do(services.interaction_end, actor=actor, interaction_id=pk):
            self.stats.ended += 1

    def _message(self, pk: int, *, inbound: bool, actor: User | None = None, sender: str = "") -> bool:
        sent = self._do(
            services.message_add,
            actor=SIMULATOR if inbound or actor is None else actor,
            interaction_id=pk,
            body=self.rng.choice(CUSTOMER_LINES if inbound else AGENT_LINES),
            direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
            sender=sender,
        )
        self.stats.messages += sent
        return sent

    def _disposition(self, queue_id: int | None) -> Disposition | None:
        """A disposition of the queue's set, or None where the queue requires none."""
        queue = (
            Queue.objects.filter(pk=queue_id).select_related("disposition_set").first() if queue_id else None
        )
        # Never do-not-call (the demo's customers keep their consent) nor a callback (fake
        # traffic schedules no real work for tomorrow).
        choices = Disposition.objects.filter(is_active=True, marks_dnc=False, needs_callback_time=False)
        choices = choices.order_by("code")
        if queue is not None and queue.disposition_set is not None:
            choices = choices.filter(sets=queue.disposition_set)
        elif queue is not None and not queue.disposition_required:
            return None
        options = list(choices)
        return self.rng.choice(options) if options else None

    def _do(self, service: Callable[..., Any], **kwargs: Any) -> bool:
        """Run one service call; a domain refusal (the customer hung up while the agent
        accepted, a human supervisor moved the interaction) is part of life, not a crash."""
        try:
            service(**kwargs)
        except DomainError as error:
            logger.info("%s refused: %s", service.__name__, error)
            self.stats.errors += 1
            return False
        return True


class Command(BaseCommand):
    help = "Simulate inbound customers and agents through the contact center's services (demo traffic)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rate", type=float, default=4.0, help="Arrivals per minute per queue (Poisson)."
        )
        parser.add_argument(
            "--channels",
            default="voice=2,chat=3,email=1,sms=1",
            help="Channel mix as weights: voice=2,chat=3",
        )
        parser.add_argument("--patience", type=float, default=60.0, help="Mean customer patience, seconds.")
        parser.add_argument("--agents", type=int, default=6, help="Simulated agents sim-agent-01..N.")
        parser.add_argument(
            "--accept-delay", type=float, default=3.0, help="Mean seconds to accept an offer."
        )
        parser.add_argument("--handle-time", type=float, default=45.0, help="Mean handle time, seconds.")
        parser.add_argument("--wrap-up", type=float, default=8.0, help="Mean wrap-up time, seconds.")
        parser.add_argument(
            "--message-every", type=float, default=8.0, help="Mean gap between chat messages."
        )
        parser.add_argument("--queue", action="append", default=[], help="Only this queue (repeatable).")
        parser.add_argument("--tick", type=float, default=0.5, help="Seconds of simulated time per step.")
        parser.add_argument(
            "--duration", type=float, default=None, help="Stop after this many simulated seconds."
        )
        parser.add_argument("--iterations", type=int, default=None, help="Stop after this many ticks.")
        parser.add_argument("--seed", type=int, default=None, help="Random seed (a run repeats with --fast).")
        parser.add_argument(
            "--fast", action="store_true", help="Do not wait for the wall clock between ticks."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("rate", "patience", "accept_delay", "handle_time", "wrap_up", "message_every"):
            if options[name] < 0:
                raise CommandError(f"--{name.replace('_', '-')} cannot be negative.")
        if options["tick"] <= 0 or options["agents"] < 0:
            raise CommandError("--tick must be positive and --agents at least 0.")
        settings = Settings(
            rate=options["rate"],
            mix=_channel_mix(options["channels"]),
            patience=options["patience"],
            accept_delay=options["accept_delay"],
            handle_time=options["handle_time"],
            wrap_up=options["wrap_up"],
            message_every=options["message_every"],
            tick=options["tick"],
        )
        iterations = options["iterations"]
        if options["duration"] is not None:
            by_duration = math.ceil(options["duration"] / settings.tick)
            iterations = by_duration if iterations is None else min(iterations, by_duration)

        stopping = {"flag": False}

        def request_stop(signum: int, frame: object) -> None:
            stopping["flag"] = True

        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        simulation = Simulation(settings, random.Random(options["seed"]))
        try:
            simulation.load(agent_count=options["agents"], queue_names=options["queue"])
            if not simulation.queue_ids:
                self.stderr.write(
                    "No active queue serves the --channels mix: run `manage.py seed_demo` first."
                )
            self.stdout.write(
                f"Simulating {len(simulation.queue_ids)} queues, {len(simulation.agents)} agents, "
                f"{len(simulation.customers)} customers (Ctrl-C stops)."
            )
            started = time.monotonic()
            tick = 0
            while not stopping["flag"] and (iterations is None or tick < iterations):
                close_old_connections()
                if not simulation.queue_ids and tick % 60 == 0 and tick:
                    simulation.load(agent_count=options["agents"], queue_names=options["queue"])
                simulation.step(tick)
                tick += 1
                if not options["fast"]:
                    pause = started + tick * settings.tick - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
            simulation.agents_offline()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write(f"Simulated {tick} ticks ({tick * settings.tick:g} s): {simulation.stats.line()}.")
