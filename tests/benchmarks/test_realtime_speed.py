"""Issue 3, item 14 (b)-(d): the real-time path measured end to end with a real daphne process,
the Redis channel layer and PostgreSQL, the websocket clients in this process. Each against a
bare channel-layer round trip measured in the same run: group_send to a group of one channel
and receive() on that channel, same layer, same Redis.

(b) enqueue -> offer on the agent's websocket: the time from calling
    services.interaction_enqueue until the agent's socket receives {kind: interaction,
    status: offered} for it, p50/p95 over BENCH_OFFERS (default 1,000) offers. Goal: p95 <= 3x
    the bare round trip's p95. Also printed, to split the figure: the service call alone, and a
    plain group_send to the agent's group until it reaches the socket (layer + daphne + socket,
    no database). The service call is timed in the producer. The three are measured in turn
    in BENCH_BLOCKS (default 10) blocks of a tenth each, so that a slow spell of a shared
    machine weighs on the figure and on its reference alike; before a block's bare round trips
    the product's sends are over, so the reference meets none of the product's background work.
    Every part starts each block with the same BENCH_BLOCK_WARM_UP (default 20) iterations
    that are not recorded. The blocks' turns are the benchmark's own: each part resumes after
    some 0.3 s in which its processes sat idle, and here the offer path pays for that over its
    first few dozen offers (its PostgreSQL round trip from ~2.7 ms on the first offer of a block
    to ~0.9 ms by the fiftieth; the bare round trip is flat), which 1,000 offers in a row never
    meet (BENCH_BLOCKS=1 gives the same p95 as the warmed blocks). The first iteration of
    every block is printed apart, for each part, as its cold figure.
(c) one wallboard event (events.send, what every service's on_commit runs) to BENCH_CLIENTS
    (default 500) connected supervisors, BENCH_FANOUT_EVENTS (default 20) times: every socket
    gets every event; p50/p95/max of event-to-socket latency over all deliveries.
(d) daphne's RSS after BENCH_CYCLES (default 1,000) websocket connect/disconnect cycles (agent
    and wallboard sockets in turn) against its RSS after a warm-up of BENCH_WARMUP_CYCLES (default
    1,000). Goal: <= 1.05.

In (b) the enqueue runs in a process of its own (enqueue_producer.py, which reads a line per
offer), as a web or Celery worker would: the agent's browser does not share an interpreter with
the server, and a websocket client that shared one would stamp arrivals late whenever the
server-side threads (the service, the publisher's loop) held the GIL, which the bare round trip
never pays. An offer is timed from the producer's own stamp of its call (time.perf_counter:
CLOCK_MONOTONIC, one clock for every process of the machine), as the bare round trip is timed
from its group_send call; the time from writing the producer its line (the pipe and the
producer's wake-up added) is printed beside it. In (c) events.send runs
in a worker thread (Django's ORM may not run on the event loop) while the loop stamps arrivals;
the interpreter's switch interval is lowered so that a busy worker thread cannot hold an
arrival's time stamp back by the default 5 ms. Figures are printed and written
as JSON to BENCH_RESULTS_REALTIME (default .var/bench-realtime.json), one key per part.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connections

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.accounts.services import user_create
from apps.interactions import events
from apps.interactions.models import Queue
from tests.daphne_helpers import (
    Daphne,
    WebsocketClient,
    database_url_of_current_connection,
    running_daphne,
    session_cookie,
    ws_connect,
)
from tests.interactions.factories import make_agent

OFFERS = int(os.environ.get("BENCH_OFFERS", "1000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "500"))
FANOUT_EVENTS = int(os.environ.get("BENCH_FANOUT_EVENTS", "20"))
CYCLES = int(os.environ.get("BENCH_CYCLES", "1000"))
# RSS grows while daphne warms up (about 11 MB over the first ~2,500 cycles here, then flat: thread
# pools and their database connections, allocator arenas), so the warm-up is long enough to
# reach most of that plateau; rss_every_250_cycles_mib shows the slope.
WARMUP_CYCLES = int(os.environ.get("BENCH_WARMUP_CYCLES", "1000"))
BARE_ROUND_TRIPS = 1000
PRODUCER = Path(__file__).with_name("enqueue_producer.py")
# (b) measures its three parts in turn, BLOCKS times (offers, publish-to-socket, bare).
BLOCKS = int(os.environ.get("BENCH_BLOCKS", "10"))
# Iterations each part runs unrecorded at the start of every block (see the module's (b)).
BLOCK_WARM_UP = int(os.environ.get("BENCH_BLOCK_WARM_UP", "20"))
RESULTS = Path(
    os.environ.get("BENCH_RESULTS_REALTIME", str(Path(settings.BASE_DIR) / ".var" / "bench-realtime.json"))
)
T = TypeVar("T")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _summary(latencies: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds (nearest-rank percentiles)."""
    ordered = sorted(latencies)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {
        "n": len(ordered),
        "p50_ms": _ms(rank(0.50)),
        "p95_ms": _ms(rank(0.95)),
        "p99_ms": _ms(rank(0.99)),
        "max_ms": _ms(ordered[-1]),
    }


def _record(part: str, figures: dict[str, Any]) -> None:
    print(f"\n{part}:")
    print(json.dumps(figures, indent=2))
    existing = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    existing[part] = figures
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(existing, indent=2) + "\n")


@contextlib.contextmanager
def _short_switch_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


class _OrmThread:
    """One worker thread for the ORM (and its one database connection, closed at the end)."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1)

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: function(*args, **kwargs))

    async def close(self) -> None:
        await self.run(connections.close_all)
        self._executor.shutdown()


async def bare_round_trips(
    count: int = BARE_ROUND_TRIPS, *, warm_up: int = 50
) -> tuple[list[float], list[float]]:
    """group_send to a group of one channel, then receive() it: the layer's own round trip.
    (the warm-up's round trips, the `count` measured after them)."""
    layer = get_channel_layer()
    assert layer is not None
    channel = await layer.new_channel()
    group = f"bench.bare.{os.getpid()}"
    await layer.group_add(group, channel)
    latencies = []
    for n in range(warm_up + count):
        start = time.perf_counter()
        await layer.group_send(group, {"type": "bench", "n": n})
        await layer.receive(channel)
        latencies.append(time.perf_counter() - start)
    await layer.group_discard(group, channel)
    return latencies[:warm_up], latencies[warm_up:]


async def _until(client: WebsocketClient, match: Callable[[dict[str, Any]], bool]) -> float:
    """Arrival time of the first message that matches (others are dropped)."""
    while True:
        at, message = await client.receive(timeout=20)
        if isinstance(message, dict) and match(message):
            return at


def _supervisor() -> User:
    return user_create(username="bench-supervisor", password="pw-for-bench-1", roles=[Role.SUPERVISOR])


def _daphne(redis_url: str, tmp_path: Path, name: str) -> contextlib.AbstractContextManager[Daphne]:
    return running_daphne(
        database_url=database_url_of_current_connection(),
        redis_url=redis_url,
        log_dir=tmp_path,
        name=name,
        verbosity=0,
    )


# -- (b) enqueue -> offer on the agent's socket -----------------------------------------------------


def test_enqueue_to_offer_on_the_agents_websocket(bench_redis: str, tmp_path: Path) -> None:
    queue = Queue.objects.create(name="Bench offers", channels=["chat"], offer_timeout_seconds=3600)
    agent = make_agent(queue, capacity={"chat": 30_000})
    cookie = session_cookie(agent.user)
    agent_group = events.agent_group(agent.user_id)

    async def run(daphne: Daphne) -> dict[str, list[float]]:
        desk = await ws_connect(daphne.port, "/ws/agent/", cookie=cookie, origin=daphne.origin)
        layer = get_channel_layer()
        assert layer is not None
        parts = ("offer", "line", "service", "publish_to_socket", "bare")
        found: dict[str, list[float]] = {
            name: [] for name in (*parts, "offer_cold", "publish_to_socket_cold", "bare_cold")
        }
        producer = await asyncio.create_subprocess_exec(
            sys.executable,
            str(PRODUCER),
            str(queue.pk),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={
                **os.environ,
                "DATABASE_URL": database_url_of_current_connection(),
                "REDIS_URL": bench_redis,
            },
        )
        assert producer.stdin is not None and producer.stdout is not None
        stdin, stdout = producer.stdin, producer.stdout
        assert (await asyncio.wait_for(stdout.readline(), timeout=60)).strip() == b"ready"
        try:

            async def one_offer() -> tuple[float, float, float]:
                """(call -> socket, line written -> socket, the call alone), in seconds."""
                start = time.perf_counter()
                stdin.write(b"enqueue\n")
                answer = json.loads(await asyncio.wait_for(stdout.readline(), timeout=20))
                pk = answer["pk"]
                at = await _until(
                    desk,
                    lambda m: (
                        m.get("kind") == "interaction" and m.get("id") == pk and m.get("status") == "offered"
                    ),
                )
                return at - answer["called_at"], at - start, answer["seconds"]

            async def one_publish(n: int) -> float:
                """A plain group_send to the agent's group until it reaches the socket."""
                start = time.perf_counter()
                await layer.group_send(agent_group, {"type": "event", "payload": {"kind": "bench", "n": n}})
                at = await _until(desk, lambda m: m.get("kind") == "bench" and m.get("n") == n)
                return at - start

            for _ in range(30):  # warm-up: connections, caches, the publisher
                await one_offer()
            per_block = OFFERS // BLOCKS
            sent = 0
            for block in range(BLOCKS):
                # Each part measured in every block, so a slow spell of a shared machine falls
                # on all three alike; the product's own sends are finished (the wallboard lane
                # gathers 25 ms) before the bare round trips start, so they meet none of them.
                # Each part starts the block with the same BLOCK_WARM_UP iterations unrecorded,
                # the first of which is kept as the part's cold figure.
                for n in range(BLOCK_WARM_UP + per_block):
                    offer, line, service = await one_offer()
                    if n == 0:
                        found["offer_cold"].append(offer)
                    if n >= BLOCK_WARM_UP:
                        found["offer"].append(offer)
                        found["line"].append(line)
                        found["service"].append(service)
                await asyncio.sleep(0.05)  # the producer's publisher is done with the block's last offer
                for n in range(BLOCK_WARM_UP + per_block):
                    latency = await one_publish(sent)
                    sent += 1
                    if n == 0:
                        found["publish_to_socket_cold"].append(latency)
                    if n >= BLOCK_WARM_UP:
                        found["publish_to_socket"].append(latency)
                await asyncio.sleep(0.05)
                warm_up, bare = await bare_round_trips(
                    per_block, warm_up=BLOCK_WARM_UP + (30 if block == 0 else 0)
                )
                found["bare_cold"].append((warm_up or bare)[0])
                found["bare"] += bare
        finally:
            stdin.write(b"\n")
            await asyncio.wait_for(producer.wait(), timeout=30)
            await desk.close()
        return found

    with _daphne(bench_redis, tmp_path, "offers") as daphne:
        found = asyncio.run(run(daphne))

    offer, bare = _summary(found["offer"]), _summary(found["bare"])
    ratio = round(offer["p95_ms"] / bare["p95_ms"], 2)
    figures = {
        "offers": OFFERS,
        "blocks": BLOCKS,
        "enqueue_to_offer_on_socket": offer,
        "bare_group_send_round_trip": bare,
        "p95_ratio_to_bare": ratio,
        "line_to_producer_to_offer_on_socket": _summary(found["line"]),
        "enqueue_service_call_alone": _summary(found["service"]),
        "group_send_to_agent_group_to_socket": _summary(found["publish_to_socket"]),
        "block_warm_up": BLOCK_WARM_UP,
        "first_of_each_block_cold": {
            "enqueue_to_offer_on_socket": _summary(found["offer_cold"]),
            "group_send_to_agent_group_to_socket": _summary(found["publish_to_socket_cold"]),
            "bare_group_send_round_trip": _summary(found["bare_cold"]),
        },
        "goal": "p95 <= 3x bare p95",
    }
    _record("b_enqueue_to_offer", figures)
    assert ratio <= 3


# -- (c) one wallboard event to 500 sockets ----------------------------------------------------------


def test_one_wallboard_event_reaches_500_sockets(bench_redis: str, tmp_path: Path) -> None:
    cookie = session_cookie(_supervisor())

    async def run(daphne: Daphne) -> tuple[list[float], list[float], list[float], int, float]:
        orm = _OrmThread()
        boards: list[WebsocketClient] = []
        started = time.perf_counter()
        for batch in range(0, CLIENTS, 50):
            boards += await asyncio.gather(
                *(
                    ws_connect(daphne.port, "/ws/wallboard/", cookie=cookie, origin=daphne.origin, timeout=60)
                    for _ in range(batch, min(CLIENTS, batch + 50))
                )
            )
        connect_seconds = time.perf_counter() - started
        latencies: list[float] = []
        publish_calls: list[float] = []
        delivered = 0
        try:
            await asyncio.sleep(1)  # every group_add is done before accept(); let the loop settle
            for n in range(FANOUT_EVENTS + 2):
                payload = {"kind": "agent", "id": 0, "version": n, "state": "available", "bench": n}
                start = time.perf_counter()
                await orm.run(events.send, events.WALLBOARD_GROUP, payload)
                returned = time.perf_counter()
                waits: list[Awaitable[float]] = [
                    _until(board, lambda m, n=n: m.get("bench") == n)  # type: ignore[misc]
                    for board in boards
                ]
                outcomes = await asyncio.gather(*waits, return_exceptions=True)
                arrivals = [at for at in outcomes if isinstance(at, float)]
                if len(arrivals) < len(boards):
                    print(
                        f"event {n}: {len(boards) - len(arrivals)} of {len(boards)} sockets got nothing in 20 s"
                    )
                if n >= 2:  # the first two warm up
                    latencies += [at - start for at in arrivals]
                    publish_calls.append(returned - start)
                    delivered += len(arrivals)
            _, bare = await bare_round_trips(200)
        finally:
            await asyncio.gather(*(board.close() for board in boards))
            await asyncio.sleep(2)  # daphne runs the disconnects (group_discard) before it stops
            await orm.close()
        return latencies, bare, publish_calls, delivered, connect_seconds

    with _daphne(bench_redis, tmp_path, "fanout") as daphne, _short_switch_interval():
        latencies, bare_latencies, publish_calls, delivered, connect_seconds = asyncio.run(run(daphne))

    fanout, bare = _summary(latencies), _summary(bare_latencies)
    figures = {
        "clients": CLIENTS,
        "events": FANOUT_EVENTS,
        "delivered": delivered,
        "expected": CLIENTS * FANOUT_EVENTS,
        "connect_all_seconds": round(connect_seconds, 2),
        "event_to_socket_over_all_deliveries": fanout,
        "bare_group_send_round_trip": bare,
        "p95_ratio_to_bare": round(fanout["p95_ms"] / bare["p95_ms"], 1),
        "events_send_call_alone": _summary(publish_calls),
    }
    _record("c_wallboard_fanout", figures)
    assert delivered == CLIENTS * FANOUT_EVENTS


# -- (d) daphne's memory over connect/disconnect cycles ------------------------------------------


def test_daphne_memory_is_flat_over_1000_websocket_cycles(bench_redis: str, tmp_path: Path) -> None:
    queue = Queue.objects.create(name="Bench sockets", channels=["chat"])
    agent_cookie = session_cookie(make_agent(queue).user)
    board_cookie = session_cookie(_supervisor())

    async def cycles(daphne: Daphne, count: int) -> None:
        async def one(n: int) -> None:
            path, cookie = ("/ws/agent/", agent_cookie) if n % 2 else ("/ws/wallboard/", board_cookie)
            client = await ws_connect(daphne.port, path, cookie=cookie, origin=daphne.origin, timeout=30)
            await client.close()

        for batch in range(0, count, 10):
            await asyncio.gather(*(one(n) for n in range(batch, min(count, batch + 10))))
        await asyncio.sleep(0.5)  # let daphne finish its disconnect handlers

    with _daphne(bench_redis, tmp_path, "memory") as daphne:
        start_kib = daphne.rss_kib()
        asyncio.run(cycles(daphne, WARMUP_CYCLES))
        warm_kib = daphne.rss_kib()
        started = time.perf_counter()
        trend = []  # RSS every 250 cycles: a plateau or a slope
        for done in range(0, CYCLES, 250):
            asyncio.run(cycles(daphne, min(250, CYCLES - done)))
            trend.append(round(daphne.rss_kib() / 1024, 1))
        elapsed = time.perf_counter() - started
        after_kib = daphne.rss_kib()

    ratio = round(after_kib / warm_kib, 3)
    figures = {
        "cycles": CYCLES,
        "warm_up_cycles": WARMUP_CYCLES,
        "rss_at_start_mib": round(start_kib / 1024, 1),
        "rss_after_warm_up_mib": round(warm_kib / 1024, 1),
        "rss_after_cycles_mib": round(after_kib / 1024, 1),
        "ratio_after_to_warm_up": ratio,
        "rss_every_250_cycles_mib": trend,
        "cycles_per_second": round(CYCLES / elapsed, 1),
        "goal": "ratio <= 1.05",
    }
    _record("d_daphne_rss", figures)
    assert ratio <= 1.05
