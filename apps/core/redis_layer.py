"""The production channel layer: channels_redis's RedisChannelLayer, with group_send in fewer
Redis commands, and a group_send_many that sends several groups' messages together.

Why: every event this project publishes is a group_send (apps.interactions.events), one or two
per routed interaction. channels_redis spends four commands on one, each its own round trip:
ZREMRANGEBYSCORE on the group (drop expired members), ZRANGE (read the members), a pipeline of
ZREMRANGEBYSCORE on each member's channel key (drop expired messages) and an EVAL that carries
its whole Lua text every time and pushes the message. A process routing hundreds of
interactions a second spent as much CPU in its publisher thread as in routing itself (make
bench, routing), and a 2-vCPU machine ran out of CPU before PostgreSQL ran out of work.

How: the same steps as two Lua scripts, called by their SHA (EVALSHA; loaded again when Redis
answers NOSCRIPT, after a restart or SCRIPT FLUSH):
- MEMBERS drops expired members of one or more groups and returns the members of each;
- PUSH drops expired messages of each channel key and adds the message where the key is under
  its capacity, as channels_redis's group_send script does (same keys, same expiry, the same
  serialized message with its __asgi_channel__ list, scored by the time), so channels_redis's
  receive on the other side is unchanged. One difference: several messages pushed to one key in
  one call are scored a microsecond apart, in the order given, where channels_redis's one
  message per call relies on the clock moving between calls.
A group with members costs two commands instead of four; one with none (nobody connected) one
instead of two. group_send_many does the same for a batch of groups in the same two commands
per Redis host, whatever the number of groups.

group_send_many_sync is the same on redis-py's blocking connections, for the publisher's
threads (apps.interactions.events): a send from synchronous code then costs no event loop, task
or wake-up pipe, which was most of a publisher's CPU per event (make bench, routing). Each
thread keeps one connection per host and speaks on it directly (send_command, read_response):
redis-py's client around it (pool checkout, retry and metrics hooks) cost twice the command.

channels_redis's key layout (the group key "<prefix>:group:<group>"; a channel's key, its prefix
and the channel's non-local name, on the host its consistent hash picks; the message carrying the
channel names of one key in __asgi_channel__) is written out here from the layer's public
attributes (prefix, non_local_name, get_capacity, consistent_hash, serialize) rather than through
its private helpers. The tests in tests/core/test_redis_layer.py receive with plain channels_redis
and check each key against what its own group_add and send write, so a change of that layout
in a new channels_redis fails them loudly.

What it is not: a change to what is stored or to the delivery contract. A message for a channel
at capacity is dropped and logged, as channels_redis does; send, receive, group_add and
group_discard are channels_redis's own.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import redis
from channels_redis.core import RedisChannelLayer as _ChannelsRedisLayer
from redis.exceptions import NoScriptError

logger = logging.getLogger(__name__)

# KEYS: group keys. ARGV[1]: members with a score up to this have expired.
_MEMBERS_LUA = b"""
local found = {}
for i = 1, #KEYS do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, ARGV[1])
    found[i] = redis.call('ZRANGE', KEYS[i], 0, -1)
end
return found
"""

# KEYS: channel keys (one may come twice, for two groups). ARGV: the n messages, the n
# capacities, then the time, the key's expiry in seconds and the score up to which a waiting
# message has expired. A message's score is the time, or just above the key's last one when
# that is not lower: the receiver pops the lowest score first, and one call pushes several
# messages to a key at the same time. Returns how many keys were at capacity.
_PUSH_LUA = b"""
local n = #KEYS
local now, expiry, stale = tonumber(ARGV[2 * n + 1]), ARGV[2 * n + 2], ARGV[2 * n + 3]
local over_capacity = 0
for i = 1, n do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, stale)
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[n + i]) then
        local score = now
        local last = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')[2]
        if last and tonumber(last) >= score then
            score = tonumber(last) + 0.000001
        end
        redis.call('ZADD', KEYS[i], score, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""


class _Script:
    """A Lua script run by SHA, loaded on the connection's server when it does not know it."""

    def __init__(self, text: bytes) -> None:
        self.text = text
        self.sha = hashlib.sha1(text).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1

    async def __call__(self, connection: Any, keys: Sequence[bytes | str], args: list[Any]) -> Any:
        try:
            return await connection.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await connection.script_load(self.text)
            return await connection.evalsha(self.sha, len(keys), *keys, *args)

    def call_sync(
        self, connection: redis.connection.AbstractConnection, keys: Sequence[bytes | str], args: list[Any]
    ) -> Any:
        """On a blocking connection (which drops its socket on any error, timeouts included,
        and opens a new one on the next command)."""
        try:
            connection.send_command("EVALSHA", self.sha, len(keys), *keys, *args)
            return connection.read_response()
        except NoScriptError:
            connection.send_command("SCRIPT", "LOAD", self.text)
            connection.read_response()
            connection.send_command("EVALSHA", self.sha, len(keys), *keys, *args)
            return connection.read_response()


_MEMBERS = _Script(_MEMBERS_LUA)
_PUSH = _Script(_PUSH_LUA)


# A blocking send waits this long for Redis to answer: the scripts never block in Redis, so a
# longer wait is a Redis that stopped answering (the async side's consumers block in BZPOPMIN
# and need the hosts' longer socket_timeout).
SYNC_SOCKET_TIMEOUT_SECONDS = 5


def _sync_pool(host: dict[str, Any]) -> redis.ConnectionPool:
    """channels_redis.utils.create_pool's pool for the same host, on redis-py's blocking client."""
    host = {**host, "socket_timeout": SYNC_SOCKET_TIMEOUT_SECONDS}
    host.setdefault("socket_connect_timeout", SYNC_SOCKET_TIMEOUT_SECONDS)
    if "address" in host:
        return redis.ConnectionPool.from_url(host.pop("address"), **host)
    master_name = host.pop("master_name", None)
    if master_name is not None:
        sentinels = host.pop("sentinels")
        sentinel = redis.sentinel.Sentinel(sentinels, sentinel_kwargs=host.pop("sentinel_kwargs", None))
        return redis.sentinel.SentinelConnectionPool(master_name, sentinel, **host)
    return redis.ConnectionPool(**host)


def group_key(layer: Any, group: str) -> bytes:
    """The Redis key holding a group's members, as channels_redis's group_add writes it."""
    return f"{layer.prefix}:group:{group}".encode()


def channel_keys(
    layer: Any, channel_names: list[str], message: dict[str, Any]
) -> tuple[dict[int, list[str]], dict[str, bytes], dict[str, int]]:
    """Where channels_redis's receive looks for messages to these channels: per host index, the
    channel keys (the prefix and each channel's non-local name: the channels of one process
    share a key); per key, the serialized message naming its channels in __asgi_channel__, and
    the key's capacity."""
    to_host: dict[int, list[str]] = collections.defaultdict(list)
    per_key: dict[str, dict[str, Any]] = {}
    capacities: dict[str, int] = {}
    for channel in channel_names:
        non_local = layer.non_local_name(channel) if "!" in channel else channel
        key = layer.prefix + non_local
        if key in per_key:
            per_key[key]["__asgi_channel__"].append(channel)
            continue
        per_key[key] = {**message, "__asgi_channel__": [channel]}
        capacities[key] = layer.get_capacity(channel)
        to_host[layer.consistent_hash(non_local)].append(key)
    return to_host, {key: layer.serialize(value) for key, value in per_key.items()}, capacities


class _Sends:
    """One group_send_many's work, the same for the async and the blocking client: the
    MEMBERS keys per host, then, from the members found, the PUSH keys and arguments per host."""

    def __init__(self, layer: RedisChannelLayer, sends: list[tuple[str, dict[str, Any]]]) -> None:
        for group, message in sends:
            assert layer.require_valid_group_name(group), "Group name not valid"
            assert isinstance(message, dict), "message is not a dict"
        self.layer = layer
        self.sends = sends
        self.groups = list(dict.fromkeys(group for group, _ in sends))
        self.expired_members = int(time.time()) - layer.group_expiry
        self.by_host: dict[int, list[str]] = collections.defaultdict(list)
        for group in self.groups:
            self.by_host[layer.consistent_hash(group)].append(group)
        self.members: dict[str, list[str]] = {}

    def member_keys(self, index: int) -> list[bytes]:
        return [group_key(self.layer, group) for group in self.by_host[index]]

    def found(self, index: int, names: list[list[bytes]]) -> None:
        for group, group_names in zip(self.by_host[index], names, strict=True):
            self.members[group] = [name.decode("utf8") for name in group_names]

    def pushes(self) -> dict[int, tuple[list[str], list[Any]]]:
        """Per host, the channel keys to push to and PUSH's arguments (each key's serialized
        message, each key's capacity, then the time, the expiry and the stale score)."""
        per_host: dict[int, tuple[list[str], list[bytes], list[int]]] = collections.defaultdict(
            lambda: ([], [], [])
        )
        for group, message in self.sends:
            if not self.members[group]:
                continue
            to_host, messages, capacities = channel_keys(self.layer, self.members[group], message)
            for index, host_keys in to_host.items():
                keys, values, limits = per_host[index]
                for key in host_keys:
                    keys.append(key)
                    values.append(messages[key])
                    limits.append(capacities[key])
        now = time.time()
        expiry = int(self.layer.expiry)
        stale = int(now) - expiry
        return {
            index: (keys, [*values, *limits, now, expiry, stale])
            for index, (keys, values, limits) in per_host.items()
        }

    def pushed(self, keys: Sequence[str], over_capacity: int) -> None:
        if over_capacity > 0:
            logger.info(
                "%s of %s channel keys over capacity in groups %s",
                over_capacity,
                len(keys),
                ", ".join(self.groups),
            )


class RedisChannelLayer(_ChannelsRedisLayer):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync_pools: dict[int, redis.ConnectionPool] = {}
        self._sync_local = threading.local()

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Sends a message to the entire group (channels_redis's contract)."""
        await self.group_send_many([(group, message)])

    async def group_send_many(self, sends: list[tuple[str, dict[str, Any]]]) -> None:
        """Each (group, message) as group_send would send it, in the order given, in one
        MEMBERS and one PUSH command per Redis host that holds any of it."""
        work = _Sends(self, sends)
        for index in work.by_host:
            work.found(
                index, await _MEMBERS(self.connection(index), work.member_keys(index), [work.expired_members])
            )
        for index, (keys, args) in work.pushes().items():
            work.pushed(keys, await _PUSH(self.connection(index), keys, args))

    def group_send_many_sync(self, sends: list[tuple[str, dict[str, Any]]]) -> None:
        """group_send_many on blocking connections (this thread's own), for callers without
        an event loop."""
        work = _Sends(self, sends)
        # Checked once per call: PUSH follows MEMBERS on the same, just-used connection.
        connections = {index: self._sync_connection(index) for index in work.by_host}
        for index, connection in connections.items():
            work.found(index, _MEMBERS.call_sync(connection, work.member_keys(index), [work.expired_members]))
        for index, (keys, args) in work.pushes().items():
            if index not in connections:  # members on a host that holds none of the groups
                connections[index] = self._sync_connection(index)
            work.pushed(keys, _PUSH.call_sync(connections[index], keys, args))

    def _sync_connection(self, index: int) -> redis.connection.AbstractConnection:
        """This thread's connection to host `index`, made by a pool built like channels_redis's
        (so the hosts' settings apply) but never checked out of it: a thread uses one connection
        at a time, so it keeps its own. A forked child makes new ones (the parent's sockets are
        the parent's). No lock (one held by a thread at a fork would stay held in the child):
        two threads racing for a pool make two and keep one."""
        local = self._sync_local
        if getattr(local, "pid", None) != os.getpid():
            local.pid, local.connections = os.getpid(), {}
        connection = local.connections.get(index)
        if connection is None:
            pool = self._sync_pools.get(index)
            if pool is None:
                pool = self._sync_pools.setdefault(index, _sync_pool(self.hosts[index]))
            connection = local.connections[index] = pool.make_connection()
        else:
            # As the pool checks a connection it hands out: one that Redis closed (a restart,
            # a timeout) reads as ready; drop it, and the command opens a new one.
            try:
                if connection.can_read():
                    connection.disconnect()
            except redis.exceptions.ConnectionError:
                connection.disconnect()
        return connection
