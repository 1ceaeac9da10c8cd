"""Real-time facts, published after commit: what changed (kind, id, version), never business
state a client should trust over a reload. Groups: "agent.<user id>" (the agent's own desktop)
and "wallboard" (supervisors). Timers (offer timeouts, wrap-up, overflow) are not scheduled per
item: beat's ticks (tasks.py) act on what the rows say is due."""

from __future__ import annotations

import asyncio
import atexit
import datetime as dt
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

from apps.core.layers import RelayChannelLayer
from apps.interactions.models import AgentProfile, Interaction, Message

logger = logging.getLogger(__name__)

WALLBOARD_GROUP = "wallboard"


def agent_group(user_id: int) -> str:
    return f"agent.{user_id}"


SEND_TIMEOUT_SECONDS = 5
BATCH_MAX = 100  # events in one channel-layer message
# The wallboard's lane gathers this long before it sends: one group_send then carries every
# wallboard event of the window (the page reloads its board at most every 0.4 s anyway), so a
# busy process sends the wallboard a few messages a second instead of one per commit.
WALLBOARD_GATHER_SECONDS = 0.025
# A post this soon after the end of an inline send is part of a burst (one commit's events, a
# tick's loop): the lane's thread sends it, batched with the rest of the burst, instead of each
# event costing its caller a send of its own.
BURST_SECONDS = 0.001


class _Lane:
    """Messages waiting to be sent to some groups, and the thread that sends them."""

    def __init__(self, name: str, gather_seconds: float, lock: threading.Lock) -> None:
        self.name = name
        self.gather_seconds = gather_seconds
        self.pending: list[tuple[Any, list[str], dict[str, Any]]] = []
        self.busy = False  # something posted is not sent yet (pending, or in the batch being sent)
        self.started = False
        self.wake = threading.Condition(lock)


class _Publisher:
    """Sends from synchronous code (services in a Celery worker, a view, a command, a test).

    Two lanes: the agents' groups (an offer's countdown runs on its agent's screen: sent at
    once) and the wallboard's (gathered for WALLBOARD_GATHER_SECONDS by a daemon thread).

    An agent's event on the project's Redis layer (apps.core.redis_layer) goes out on the
    posting thread itself when its lane is idle: one group_send_many_sync, two Redis commands
    on the thread's own blocking connection, before post() returns. Handing it to a thread
    instead cost a wake-up and a hand-over of the GIL, which made the offer reach the agent's
    socket about a millisecond later (make bench, (b)). While one thread sends, what other
    threads post piles up and the lane's thread sends it as one batch after that send; so do
    the posts that follow an inline send within BURST_SECONDS (the rest of a commit's events).
    After a failed send (Redis down) posts go to the lane's thread until one of its sends
    succeeds, so a caller waits on a dead Redis once, not on every commit. Never inline on a
    thread running an event loop: posts there go to the lane.

    A lane's thread sends what has piled up as one batch: each group's messages travel
    together (one "event.batch" message when there are several), and the lane's next batch goes
    only once this one is sent, so every group receives its events in the order they were
    posted. flush() waits until everything posted is sent (at exit, in tests).

    A layer that only sends from a loop (channels_redis's own, say) gets everything through
    the lanes, one group_send per group, concurrently, on a loop the lane keeps, so the layer
    reuses its connections.

    The in-memory layer keeps async_to_sync: it must run on the loop of the consumers it feeds
    (daphne's, reached from a view's thread). The embedded relay (apps.core.layers, in the
    worker, beat, simulator) is a plain blocking POST."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        """A new, idle publisher. Also run in a forked child (os.register_at_fork): the parent's
        lane threads do not exist there, its lock may have been held at the fork, and what the
        parent had posted is the parent's to send."""
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._agents = _Lane("agents", 0.0, self._lock)
        self._wallboard = _Lane("wallboard", WALLBOARD_GATHER_SECONDS, self._lock)
        self._sends_ok = True  # the last send went through: an idle agents' lane sends inline
        self._inline_ended = -math.inf  # time.monotonic() at the end of the last inline send

    def post(self, layer: Any, groups: list[str], message: dict[str, Any]) -> None:
        """Send message to groups: at once on the relay and in-memory layers; on any other,
        an agent's group on this thread when its lane is idle (see the class), else by the
        lanes, without waiting."""
        if isinstance(layer, (RelayChannelLayer, InMemoryChannelLayer)):
            for group in groups:
                try:
                    if isinstance(layer, RelayChannelLayer) and layer.relay_url:
                        layer.relay(group, message)  # a blocking POST to the web process
                    else:
                        async_to_sync(layer.group_send)(group, message)
                except Exception:
                    _log_failure(message, group)
            return
        inline: tuple[Any, list[str], dict[str, Any]] | None = None
        with self._lock:
            for lane, lane_groups in (
                (self._agents, [g for g in groups if g != WALLBOARD_GROUP]),
                (self._wallboard, [g for g in groups if g == WALLBOARD_GROUP]),
            ):
                if not lane_groups:
                    continue
                if lane is self._agents and not lane.busy and self._may_send_inline(layer):
                    lane.busy = True  # what other threads post meanwhile waits for this send
                    inline = (layer, lane_groups, message)
                    continue
                lane.pending.append((layer, lane_groups, message))
                if not lane.busy:  # else its thread takes this in its next batch
                    lane.busy = True
                    self._wake(lane)
        if inline is not None:
            self._send_inline(inline)

    def _may_send_inline(self, layer: Any) -> bool:
        return (
            self._sends_ok
            and time.monotonic() - self._inline_ended >= BURST_SECONDS
            and hasattr(layer, "group_send_many_sync")
            and not _loop_running()
        )

    def _send_inline(self, item: tuple[Any, list[str], dict[str, Any]]) -> None:
        """Send one post of the agents' lane on this thread (the lane is marked busy), then hand
        what other threads posted meanwhile to the lane's thread, or mark the lane idle."""
        sent = False
        try:
            sent = _send_batch([item], _no_event_loop)
        except Exception:  # a bug here must not fail the commit whose hook posted
            logger.exception("publishing an event inline failed")
        finally:
            with self._lock:
                self._sends_ok = sent
                self._inline_ended = time.monotonic()
                lane = self._agents
                if lane.pending:
                    self._wake(lane)
                else:
                    lane.busy = False
                    self._idle.notify_all()

    def _wake(self, lane: _Lane) -> None:
        """Have the lane's thread send its pending messages (the lock is held)."""
        if lane.started:
            lane.wake.notify()
        else:
            self._start(lane)

    def _start(self, lane: _Lane) -> None:
        lane.started = True
        threading.Thread(target=self._run, args=(lane,), name=f"publisher-{lane.name}", daemon=True).start()

    def _run(self, lane: _Lane) -> None:
        loop: asyncio.AbstractEventLoop | None = None  # made when a layer needs one

        def run_async(
            coroutine: Coroutine[Any, Any, list[BaseException | None]],
        ) -> list[BaseException | None]:
            nonlocal loop
            if loop is None:
                loop = asyncio.new_event_loop()
            return loop.run_until_complete(coroutine)

        while True:
            with self._lock:
                while not lane.pending:
                    lane.busy = False
                    self._idle.notify_all()
                    lane.wake.wait()
            if lane.gather_seconds:
                time.sleep(lane.gather_seconds)
            with self._lock:
                batch, lane.pending = lane.pending, []
            sent = False
            try:
                sent = _send_batch(batch, run_async)
            except Exception:  # a bug here must not stop every later event
                logger.exception("publishing a batch of %s events failed", len(batch))
            with self._lock:
                self._sends_ok = sent

    def flush(self, timeout: float = SEND_TIMEOUT_SECONDS) -> bool:
        """Wait until every message posted so far is sent (or failed). Returns False on timeout."""
        with self._lock:
            return self._idle.wait_for(
                lambda: not (self._agents.busy or self._wallboard.busy), timeout=timeout
            )


def _send_batch(
    batch: list[tuple[Any, list[str], dict[str, Any]]],
    run_async: Callable[[Coroutine[Any, Any, list[BaseException | None]]], list[BaseException | None]],
) -> bool:
    """Every group's messages (chunks of BATCH_MAX as one "event.batch" message): in one
    group_send_many_sync when the layer has it (apps.core.redis_layer: the whole batch in two
    Redis commands), else one group_send per group, the groups concurrently, by run_async.
    A failure is logged for every message it lost. Returns whether everything was sent."""
    by_group: dict[tuple[int, str], tuple[Any, list[dict[str, Any]]]] = {}
    for layer, groups, message in batch:
        for group in groups:
            by_group.setdefault((id(layer), group), (layer, []))[1].append(message)
    keys = list(by_group)
    layers = {id(layer): layer for layer, _ in by_group.values()}
    outcomes: list[BaseException | None]
    if len(layers) == 1 and hasattr(layer := next(iter(layers.values())), "group_send_many_sync"):
        sends = [(key[1], chunk) for key in keys for chunk in _chunks(by_group[key][1])]
        try:
            layer.group_send_many_sync(sends)  # its socket timeout cuts a Redis that hangs
            outcomes = [None] * len(keys)
        except Exception as error:
            outcomes = [error] * len(keys)
    else:
        outcomes = run_async(_group_send_each(by_group, keys))
    for key, outcome in zip(keys, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            for message in by_group[key][1]:
                _log_failure(message, key[1], outcome)
    return not any(isinstance(outcome, BaseException) for outcome in outcomes)


def _no_event_loop(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """run_async for an inline send, whose layer has group_send_many_sync and needs no loop."""
    coroutine.close()
    raise RuntimeError("an inline send needs no event loop")


def _loop_running() -> bool:
    """Whether this thread runs an event loop (a blocking send there would stall the loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def _group_send_each(
    by_group: dict[tuple[int, str], tuple[Any, list[dict[str, Any]]]], keys: list[tuple[int, str]]
) -> list[BaseException | None]:
    if len(keys) == 1:  # the usual agent's batch: no task of its own, so it starts at once
        try:
            await _group_send_all(*by_group[keys[0]], keys[0][1])
            return [None]
        except Exception as error:
            return [error]
    return await asyncio.gather(
        *(_group_send_all(*by_group[key], key[1]) for key in keys), return_exceptions=True
    )


def _chunks(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The channel-layer messages that carry these: one as itself, several as event.batch
    messages of at most BATCH_MAX."""
    chunks = []
    for start in range(0, len(messages), BATCH_MAX):
        chunk = messages[start : start + BATCH_MAX]
        chunks.append(
            chunk[0]
            if len(chunk) == 1
            else {"type": "event.batch", "payloads": [m["payload"] for m in chunk]}
        )
    return chunks


async def _group_send_all(layer: Any, messages: list[dict[str, Any]], group: str) -> None:
    for message in _chunks(messages):
        async with asyncio.timeout(SEND_TIMEOUT_SECONDS):  # unlike wait_for, no task in between
            await layer.group_send(group, message)


def _log_failure(message: dict[str, Any], group: str, error: BaseException | None = None) -> None:
    kind = message.get("payload", {}).get("kind")
    logger.error("publishing %s to %s failed", kind, group, exc_info=error or True)


_publisher = _Publisher()
atexit.register(_publisher.flush)
os.register_at_fork(after_in_child=_publisher._reset)


def send(group: str, payload: dict[str, Any]) -> None:
    """group_send to one group (what publish does after commit, for each of its groups)."""
    send_many([group], payload)


def send_many(groups: list[str], payload: dict[str, Any]) -> None:
    """group_send to several groups, by the publisher: an agent's event at once (on this
    thread when its lane is idle), the wallboard's gathered (see _Publisher). Failures are
    logged per group, never raised: a lost push costs a client nothing but freshness, since
    clients reload state on (re)connect."""
    layer = get_channel_layer()
    if layer is None:
        return
    _publisher.post(layer, groups, {"type": "event", "payload": payload})


def flush(timeout: float = SEND_TIMEOUT_SECONDS) -> bool:
    """Wait until everything published so far in this process has been sent."""
    return _publisher.flush(timeout)


def publish(groups: list[str], payload: dict[str, Any]) -> None:
    def deliver() -> None:
        send_many(groups, payload)

    transaction.on_commit(deliver)


def _agent_groups(interaction: Interaction) -> list[str]:
    """The group of the agent the interaction is with, if any."""
    if interaction.agent_id is None:
        return []
    # The caller's agent row, when it has it (the related descriptor's public cache check: no query).
    if Interaction.agent.is_cached(interaction):
        loaded = interaction.agent
        if loaded is not None and loaded.pk == interaction.agent_id:
            return [agent_group(loaded.user_id)]
    user_id = AgentProfile.objects.filter(pk=interaction.agent_id).values_list("user_id", flat=True).first()
    return [] if user_id is None else [agent_group(user_id)]


def interaction_changed(
    interaction: Interaction, *, status: str | None = None, version: int | None = None
) -> None:
    """status/version: publish an earlier step of this transaction (an auto-accepted offer is
    written once, as active, but its agent's desk pops it on "offered")."""
    payload = {
        "kind": "interaction",
        "id": interaction.pk,
        "version": version if version is not None else interaction.version,
        "status": status if status is not None else interaction.status,
        "queue": interaction.queue_id,
        "channel": interaction.channel,
    }
    groups = [WALLBOARD_GROUP]
    publish(groups + _agent_groups(interaction), payload)


def message_added(message: Message, interaction: Interaction, at: dt.datetime) -> None:
    payload = {
        "kind": "message",
        "id": message.pk,
        "interaction": interaction.pk,
        "version": interaction.version,
        "direction": message.direction,
        "at": at.isoformat(),
    }
    publish(_agent_groups(interaction), payload)


def agent_changed(agent: AgentProfile) -> None:
    payload = {
        "kind": "agent",
        "id": agent.pk,
        "version": agent.version,
        "state": agent.state,
        "presence": agent.presence,
    }
    publish([WALLBOARD_GROUP, agent_group(agent.user_id)], payload)
