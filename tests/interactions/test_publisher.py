"""The event publisher (apps.interactions.events): on the Redis layer a publish does not wait,
events pile into batches, and every group still receives its events once each, in the order
they were published, whatever the batching; a failing group loses only its own events. A
batch reaches a websocket as one frame per event."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels_redis.core import RedisChannelLayer

from apps.core.redis_layer import RedisChannelLayer as ProjectRedisLayer
from apps.interactions import events
from tests.conftest import require_redis


def _payloads(message: dict[str, Any]) -> list[dict[str, Any]]:
    if message["type"] == "event.batch":
        return list(message["payloads"])
    assert message["type"] == "event"
    return [message["payload"]]


def _receive_all(layer: Any, channel: str, count: int) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        while len(received) < count:
            received += _payloads(await layer.receive(channel))
        return received

    return async_to_sync(run)()


# Ours batches a lane's groups into one group_send_many; channels_redis's gets one group_send each.
@pytest.mark.parametrize("layer_class", [ProjectRedisLayer, RedisChannelLayer])
def test_redis_publishes_in_order_per_group_across_threads_and_batches(layer_class: type) -> None:
    url = require_redis()
    layer = layer_class(hosts=[url], prefix=f"test-publisher-{uuid.uuid4().hex[:8]}", capacity=10_000)
    groups = {"a": "", "b": ""}
    for name in groups:
        groups[name] = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(name, groups[name])
    publisher = events._Publisher()
    per_thread = 150

    def publish(thread: int) -> None:
        for n in range(per_thread):
            targets = ["a", "b"] if n % 3 else ["a"]
            publisher.post(layer, targets, {"type": "event", "payload": {"thread": thread, "n": n}})

    threads = [threading.Thread(target=publish, args=(t,)) for t in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert publisher.flush(timeout=30)

    on_a = _receive_all(layer, groups["a"], 3 * per_thread)
    on_b = _receive_all(layer, groups["b"], 3 * sum(1 for n in range(per_thread) if n % 3))
    for thread in range(3):
        assert [p["n"] for p in on_a if p["thread"] == thread] == list(range(per_thread))
        assert [p["n"] for p in on_b if p["thread"] == thread] == [n for n in range(per_thread) if n % 3]
    for name, channel in groups.items():
        async_to_sync(layer.group_discard)(name, channel)


class _Recording:
    """A layer that is neither in-memory nor the relay (so the publisher batches for it, as for
    Redis), records what it is sent and refuses the group "broken"."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        if group == "broken":
            raise RuntimeError("no route")
        self.sent.append((group, message))


def test_a_group_that_fails_loses_only_its_own_events(caplog: pytest.LogCaptureFixture) -> None:
    layer = _Recording()
    publisher = events._Publisher()
    for n in range(5):
        publisher.post(layer, ["broken", "fine"], {"type": "event", "payload": {"kind": "x", "n": n}})
    assert publisher.flush(timeout=10)
    fine = [p["n"] for group, message in layer.sent if group == "fine" for p in _payloads(message)]
    assert fine == list(range(5))
    assert sum("publishing x to broken failed" in r.getMessage() for r in caplog.records) == 5
    # The publisher still works after the failures.
    publisher.post(layer, ["fine"], {"type": "event", "payload": {"kind": "x", "n": 5}})
    assert publisher.flush(timeout=10)
    assert _payloads(layer.sent[-1][1]) == [{"kind": "x", "n": 5}]


class _RecordingMany(_Recording):
    """A layer with group_send_many_sync (as apps.core.redis_layer's): the whole batch in one
    blocking call, which fails when it holds the group "broken"."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []

    def group_send_many_sync(self, sends: list[tuple[str, dict[str, Any]]]) -> None:
        self.calls.append([group for group, _ in sends])
        if any(group == "broken" for group, _ in sends):
            raise RuntimeError("no route")
        self.sent += sends


def test_a_layer_with_group_send_many_sync_gets_the_batch_in_one_call_and_its_failure_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    layer = _RecordingMany()
    batch = [
        (layer, [group], {"type": "event", "payload": {"kind": "x", "to": group}})
        for group in ("agent.1", "agent.2", "agent.1")
    ]
    events._send_batch(batch, events._no_event_loop)  # what a lane sends for three posts
    assert layer.calls == [["agent.1", "agent.2"]]  # agent.1's two events as one event.batch
    assert [_payloads(message) for _, message in layer.sent] == [
        [{"kind": "x", "to": "agent.1"}] * 2,
        [{"kind": "x", "to": "agent.2"}],
    ]

    publisher = events._Publisher()
    publisher.post(layer, ["broken", "agent.3"], {"type": "event", "payload": {"kind": "y"}})
    assert publisher.flush(timeout=10)
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert failures == ["publishing y to broken failed", "publishing y to agent.3 failed"]
    publisher.post(layer, ["agent.4"], {"type": "event", "payload": {"kind": "z"}})
    assert publisher.flush(timeout=10)
    assert layer.sent[-1] == ("agent.4", {"type": "event", "payload": {"kind": "z"}})


def test_a_lone_group_that_fails_or_hangs_is_logged_and_the_lane_goes_on(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch for one group is sent without a task of its own: its failure, or a group_send
    that never returns (cut by SEND_TIMEOUT_SECONDS), is logged like any other and the lane
    sends its next batch."""
    layer = _Recording()
    publisher = events._Publisher()
    publisher.post(layer, ["broken"], {"type": "event", "payload": {"kind": "x", "n": 0}})
    assert publisher.flush(timeout=10)
    assert sum("publishing x to broken failed" in r.getMessage() for r in caplog.records) == 1

    class _Hanging(_Recording):
        async def group_send(self, group: str, message: dict[str, Any]) -> None:
            if group == "stuck":
                await asyncio.sleep(3600)
            await super().group_send(group, message)

    monkeypatch.setattr(events, "SEND_TIMEOUT_SECONDS", 0.2)
    hanging = _Hanging()
    publisher.post(hanging, ["stuck"], {"type": "event", "payload": {"kind": "y", "n": 1}})
    publisher.post(hanging, ["fine"], {"type": "event", "payload": {"kind": "y", "n": 2}})
    assert publisher.flush(timeout=10)
    assert sum("publishing y to stuck failed" in r.getMessage() for r in caplog.records) == 1
    assert [_payloads(message) for _, message in hanging.sent] == [[{"kind": "y", "n": 2}]]


def test_a_big_pile_goes_in_messages_of_at_most_batch_max_events() -> None:
    layer = _Recording()
    publisher = events._Publisher()
    with publisher._lock:  # as if the lane's thread were busy sending: everything piles up
        publisher._agents.busy = True
    for n in range(events.BATCH_MAX * 2 + 1):
        publisher.post(layer, ["fine"], {"type": "event", "payload": {"n": n}})
    assert layer.sent == []
    with publisher._lock:
        publisher._start(publisher._agents)
    assert publisher.flush(timeout=10)
    sizes = [len(_payloads(message)) for _, message in layer.sent]
    assert sizes == [events.BATCH_MAX, events.BATCH_MAX, 1]
    assert [p["n"] for _, message in layer.sent for p in _payloads(message)] == list(
        range(2 * events.BATCH_MAX + 1)
    )


def test_the_wallboard_gathers_a_window_of_events_into_one_message_and_agents_do_not_wait() -> None:
    layer = _Recording()
    publisher = events._Publisher()
    agent = events.agent_group(1)
    for n in range(5):
        publisher.post(layer, [events.WALLBOARD_GROUP, agent], {"type": "event", "payload": {"n": n}})
    assert publisher.flush(timeout=10)
    # The agent's lane sent at once; the wallboard's waited for its window, then sent once.
    assert layer.sent[0][0] == agent and layer.sent[-1][0] == events.WALLBOARD_GROUP
    board = [message for group, message in layer.sent if group == events.WALLBOARD_GROUP]
    assert [[p["n"] for p in _payloads(message)] for message in board] == [[0, 1, 2, 3, 4]]
    to_agent = [p["n"] for group, message in layer.sent if group == agent for p in _payloads(message)]
    assert to_agent == [0, 1, 2, 3, 4]


class _Threaded(_RecordingMany):
    """_RecordingMany that records which thread sent each call, and can hold a call until let go."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []
        self.hold: threading.Event | None = None
        self.holding = threading.Event()

    def group_send_many_sync(self, sends: list[tuple[str, dict[str, Any]]]) -> None:
        self.threads.append(threading.get_ident())
        if self.hold is not None:
            self.holding.set()
            assert self.hold.wait(timeout=10)
        super().group_send_many_sync(sends)


def _event(n: int) -> dict[str, Any]:
    return {"type": "event", "payload": {"kind": "x", "n": n}}


@pytest.fixture
def no_bursts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every post is one of its own, however soon it follows the last inline send."""
    monkeypatch.setattr(events, "BURST_SECONDS", 0)


def test_an_idle_agents_lane_sends_on_the_posting_thread_before_post_returns(no_bursts: None) -> None:
    layer = _Threaded()
    publisher = events._Publisher()
    agent = events.agent_group(1)
    publisher.post(layer, [agent, events.WALLBOARD_GROUP], _event(0))
    # Sent already, by this thread, without a flush; the wallboard waits for its window.
    assert layer.sent == [(agent, _event(0))]
    assert layer.threads == [threading.get_ident()]
    assert not publisher._agents.started
    assert publisher.flush(timeout=10)
    assert layer.sent[-1] == (events.WALLBOARD_GROUP, _event(0))


def test_posts_made_during_an_inline_send_wait_for_it_and_go_by_the_lane_in_order(no_bursts: None) -> None:
    layer = _Threaded()
    layer.hold = threading.Event()
    publisher = events._Publisher()
    agent = events.agent_group(1)
    first = threading.Thread(target=publisher.post, args=(layer, [agent], _event(0)))
    first.start()
    assert layer.holding.wait(timeout=10)  # the first post is sending on its own thread
    for n in (1, 2, 3):
        publisher.post(layer, [agent], _event(n))  # returns at once: the lane is busy
    assert [p["n"] for _, m in layer.sent for p in _payloads(m)] == []
    layer.hold.set()
    first.join(timeout=10)
    assert publisher.flush(timeout=10)
    assert [p["n"] for _, m in layer.sent for p in _payloads(m)] == [0, 1, 2, 3]
    assert layer.threads[0] == first.ident
    # The three waiting posts went together, from the lane's own thread.
    assert len(layer.threads) == 2 and layer.threads[1] not in (first.ident, threading.get_ident())


def test_after_a_failed_send_posts_go_by_the_lane_until_a_send_succeeds(
    caplog: pytest.LogCaptureFixture, no_bursts: None
) -> None:
    """A caller waits on a failing Redis once, not on every commit."""
    layer = _Threaded()
    publisher = events._Publisher()
    me = threading.get_ident()
    publisher.post(layer, ["broken"], _event(0))  # inline, fails, logged
    assert layer.threads == [me]
    assert "publishing x to broken failed" in caplog.text
    publisher.post(layer, ["agent.1"], _event(1))  # by the lane's thread
    assert publisher.flush(timeout=10)
    assert len(layer.threads) == 2 and layer.threads[1] != me
    publisher.post(layer, ["agent.1"], _event(2))  # the lane's send went through: inline again
    assert layer.threads[2] == me
    assert [m for _, m in layer.sent] == [_event(1), _event(2)]


def test_the_rest_of_a_burst_goes_by_the_lane(monkeypatch: pytest.MonkeyPatch) -> None:
    """One commit's events: the first goes inline, those that follow it within BURST_SECONDS
    go from the lane's thread (batched as they pile up); a post after a pause goes inline."""
    monkeypatch.setattr(events, "BURST_SECONDS", 3600)
    layer = _Threaded()
    publisher = events._Publisher()
    me = threading.get_ident()
    for n in range(4):
        publisher.post(layer, ["agent.1"], _event(n))
    assert publisher.flush(timeout=10)
    assert layer.threads[0] == me and len(layer.threads) >= 2
    assert all(thread != me for thread in layer.threads[1:])
    assert [p["n"] for _, m in layer.sent for p in _payloads(m)] == [0, 1, 2, 3]
    monkeypatch.setattr(events, "BURST_SECONDS", 0)
    publisher.post(layer, ["agent.1"], _event(4))
    assert layer.threads[-1] == me


def test_a_thread_running_an_event_loop_never_sends_inline() -> None:
    layer = _Threaded()
    publisher = events._Publisher()

    async def post_on_the_loop() -> None:
        publisher.post(layer, ["agent.1"], _event(0))

    asyncio.run(post_on_the_loop())
    assert publisher.flush(timeout=10)
    assert layer.sent == [("agent.1", _event(0))]
    assert layer.threads != [threading.get_ident()]
