"""apps.core.redis_layer: group_send in two Redis commands (Lua by SHA) must deliver exactly what
channels_redis's own group_send delivers, to receivers that are plain channels_redis: every member
once, in order, nothing to expired members, nothing past a channel's capacity; group_send_many
sends several groups' messages together, across Redis hosts, and survives a SCRIPT FLUSH; so
does group_send_many_sync, its twin on a thread's own blocking connection, which gives up on a
Redis that stops answering."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from channels_redis.core import RedisChannelLayer as ChannelsRedisLayer

from apps.core.redis_layer import RedisChannelLayer
from tests.conftest import require_redis

pytestmark = [pytest.mark.redis]


def _layers(url: str, **config: Any) -> tuple[Any, Any]:
    """Ours (the sender) and a plain channels_redis layer on the same prefix (the receiving
    process, as daphne's consumers are)."""
    prefix = f"test-layer-{uuid.uuid4().hex[:8]}"
    return (
        RedisChannelLayer(hosts=[url], prefix=prefix, **config),
        ChannelsRedisLayer(hosts=[url], prefix=prefix, **config),
    )


async def _drain(layer: Any, channel: str) -> list[dict[str, Any]]:
    """What the channel has received, until it stays empty for a moment."""
    received = []
    while True:
        try:
            received.append(await asyncio.wait_for(layer.receive(channel), timeout=0.3))
        except TimeoutError:
            return received


def _run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _send_many(
    sender: RedisChannelLayer, sends: list[tuple[str, dict[str, Any]]], blocking: bool
) -> None:
    if blocking:
        sender.group_send_many_sync(sends)
    else:
        await sender.group_send_many(sends)


both_clients = pytest.mark.parametrize("blocking", [False, True], ids=["async", "blocking"])


def test_group_send_delivers_what_channels_redis_delivers() -> None:
    url = require_redis()

    async def deliveries(sender_class: type) -> list[list[dict[str, Any]]]:
        prefix = f"test-layer-{uuid.uuid4().hex[:8]}"
        sender = sender_class(hosts=[url], prefix=prefix)
        # Two receiving processes: two channels in one (one Redis key for both), one in the other.
        first, second = (ChannelsRedisLayer(hosts=[url], prefix=prefix) for _ in range(2))
        channels = [
            (first, await first.new_channel()),
            (first, await first.new_channel()),
            (second, await second.new_channel()),
        ]
        for layer, channel in channels:
            await layer.group_add("desk", channel)
        await first.group_add("other", channels[0][1])
        for n in range(3):
            await sender.group_send("desk", {"type": "event", "n": n})
        await sender.group_send("nobody", {"type": "event", "n": 99})
        got = [await _drain(layer, channel) for layer, channel in channels]
        for layer in (sender, first, second):
            await layer.flush()
        return got

    ours = _run(deliveries(RedisChannelLayer))
    theirs = _run(deliveries(ChannelsRedisLayer))
    assert ours == theirs == [[{"type": "event", "n": n} for n in range(3)]] * 3


@both_clients
def test_group_send_many_sends_each_group_its_messages_in_order(blocking: bool) -> None:
    url = require_redis()
    sender, receiver = _layers(url)

    async def run() -> tuple[list[Any], list[Any], list[Any]]:
        a, b, both = [await receiver.new_channel() for _ in range(3)]
        await receiver.group_add("agent.1", a)
        await receiver.group_add("agent.2", b)
        for group in ("agent.1", "agent.2"):
            await receiver.group_add(group, both)
        sends = [(f"agent.{1 + n % 2}", {"type": "event", "n": n}) for n in range(40)]
        # One call, so one push: the messages of one key share a time and still keep their order.
        await _send_many(sender, [*sends[:20], ("empty", {"type": "event", "n": -1}), *sends[20:]], blocking)
        got = (await _drain(receiver, a), await _drain(receiver, b), await _drain(receiver, both))
        await sender.flush()
        await receiver.flush()
        return got

    on_a, on_b, on_both = _run(run())
    assert [m["n"] for m in on_a] == list(range(0, 40, 2))
    assert [m["n"] for m in on_b] == list(range(1, 40, 2))
    assert [m["n"] for m in on_both] == list(range(40))


def test_expired_members_are_dropped_and_not_sent_to() -> None:
    url = require_redis()
    sender, receiver = _layers(url, group_expiry=1)

    async def run() -> tuple[list[Any], int]:
        channel = await receiver.new_channel()
        await receiver.group_add("wallboard", channel)
        await asyncio.sleep(2.1)  # its membership is older than group_expiry
        await sender.group_send("wallboard", {"type": "event"})
        got = await _drain(receiver, channel)
        members = await sender.connection(0).zcard(sender._group_key("wallboard"))
        await sender.flush()
        await receiver.flush()
        return got, members

    assert _run(run()) == ([], 0)


def test_a_channel_at_capacity_loses_the_message_and_the_others_get_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = require_redis()
    sender, full_side = _layers(url, capacity=2)
    other_side = ChannelsRedisLayer(hosts=[url], prefix=sender.prefix, capacity=2)

    async def run() -> tuple[list[Any], list[Any]]:
        full, free = await full_side.new_channel(), await other_side.new_channel()
        await full_side.group_add("desk", full)
        await other_side.group_add("desk", free)
        for n in range(2):
            await full_side.send(full, {"type": "waiting", "n": n})
        await sender.group_send("desk", {"type": "event"})
        got = (await _drain(full_side, full), await _drain(other_side, free))
        for layer in (sender, full_side, other_side):
            await layer.flush()
        return got

    with caplog.at_level(logging.INFO, logger="apps.core.redis_layer"):
        on_full, on_free = _run(run())
    assert [m["type"] for m in on_full] == ["waiting", "waiting"]
    assert on_free == [{"type": "event"}]
    assert "1 of 2 channel keys over capacity in groups desk" in caplog.text


@both_clients
def test_groups_spread_over_two_redis_hosts_are_all_sent(blocking: bool) -> None:
    url = require_redis()
    parts = urlsplit(url)
    hosts = [f"{parts.scheme}://{parts.netloc}/{db}" for db in (14, 15)]  # two databases: two hosts
    prefix = f"test-layer-{uuid.uuid4().hex[:8]}"
    sender = RedisChannelLayer(hosts=hosts, prefix=prefix)
    receivers = [ChannelsRedisLayer(hosts=hosts, prefix=prefix) for _ in range(4)]
    groups = [f"agent.{n}" for n in range(6, 12)]  # agent.8 and agent.9 hash to the second host
    assert {sender.consistent_hash(g) for g in groups} == {0, 1}

    async def run() -> list[list[Any]]:
        channels = []
        for n, group in enumerate(groups):
            layer = receivers[n % 4]
            channel = await layer.new_channel()
            await layer.group_add(group, channel)
            channels.append((layer, channel))
        await _send_many(sender, [(g, {"type": "event", "group": g}) for g in groups], blocking)
        got = [await _drain(layer, channel) for layer, channel in channels]
        for layer in (sender, *receivers):
            await layer.flush()
        return got

    got = _run(run())
    assert got == [[{"type": "event", "group": g}] for g in groups]


@both_clients
def test_group_send_loads_its_scripts_again_after_a_script_flush(blocking: bool) -> None:
    url = require_redis()
    sender, receiver = _layers(url)
    redis.Redis.from_url(url).script_flush()

    async def run() -> list[Any]:
        channel = await receiver.new_channel()
        await receiver.group_add("desk", channel)
        await _send_many(sender, [("desk", {"type": "event", "at": time.time()})], blocking)
        got = await _drain(receiver, channel)
        await sender.flush()
        await receiver.flush()
        return got

    assert len(_run(run())) == 1


def test_a_blocking_send_gives_up_on_a_redis_that_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that accepts the connection and never replies: the publisher's thread gets an
    error after SYNC_SOCKET_TIMEOUT_SECONDS instead of waiting for ever."""
    from apps.core import redis_layer

    monkeypatch.setattr(redis_layer, "SYNC_SOCKET_TIMEOUT_SECONDS", 0.3)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        sender = RedisChannelLayer(hosts=[f"redis://127.0.0.1:{port}/0"], prefix="test-silent")
        started = time.monotonic()
        with pytest.raises(redis.exceptions.TimeoutError):
            sender.group_send_many_sync([("desk", {"type": "event"})])
        assert time.monotonic() - started < 5


def test_a_blocking_send_reconnects_after_redis_closed_its_connection_and_in_a_forked_child() -> None:
    url = require_redis()
    sender, receiver = _layers(url)

    async def run() -> list[Any]:
        channel = await receiver.new_channel()
        await receiver.group_add("desk", channel)
        sender.group_send_many_sync([("desk", {"type": "event", "n": 1})])
        connection = sender._sync_connection(0)
        connection.send_command("CLIENT", "ID")
        redis.Redis.from_url(url).client_kill_filter(_id=connection.read_response())
        sender.group_send_many_sync([("desk", {"type": "event", "n": 2})])
        parents = sender._sync_connection(0)
        child = os.fork()
        if child == 0:  # the parent's socket is not the child's to use
            status = 1
            try:
                sender.group_send_many_sync([("desk", {"type": "event", "n": 3})])
                status = 0 if sender._sync_connection(0) is not parents else 2
            finally:
                os._exit(status)
        assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
        sender.group_send_many_sync([("desk", {"type": "event", "n": 4})])
        got = await _drain(receiver, channel)
        await receiver.flush()
        return got

    assert [m["n"] for m in _run(run())] == [1, 2, 3, 4]


def test_the_keys_we_write_are_the_ones_channels_redis_reads_and_writes() -> None:
    """group_key and channel_keys write channels_redis's key layout out from its public
    attributes: checked against the keys its own group_add and send create, so a new
    channels_redis that stores groups or channels elsewhere fails here, by name."""
    from apps.core.redis_layer import channel_keys, group_key

    url = require_redis()
    ours, theirs = _layers(url)

    async def check() -> None:
        local = await theirs.new_channel()  # process-local: "specific.<client>!<id>"
        await theirs.group_add("desk", local)
        await theirs.send("plain.channel", {"type": "event"})
        client = redis.Redis.from_url(url)
        try:
            assert client.zscore(group_key(ours, "desk"), local) is not None
            to_host, messages, capacities = channel_keys(ours, [local, "plain.channel"], {"type": "e"})
            keys = [key for host_keys in to_host.values() for key in host_keys]
            assert client.exists(ours.prefix + "plain.channel") == 1
            assert keys == [ours.prefix + theirs.non_local_name(local), ours.prefix + "plain.channel"]
            assert ours.deserialize(messages[keys[0]])["__asgi_channel__"] == [local]
            assert capacities == dict.fromkeys(keys, theirs.get_capacity(local))
        finally:
            client.close()
            await theirs.flush()

    _run(check())
