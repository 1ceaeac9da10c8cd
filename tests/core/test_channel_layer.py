"""The Redis channel layer as the settings configure it. channels_redis waits for a consumer's
next message in BZPOPMIN, blocking brpop_timeout (5 s) at a time; redis-py 8 reads with a 5 s
socket timeout by default, so an idle websocket's consumer died with TimeoutError after 5 s
(benchmark (c) lost a tenth of its deliveries when the wallboards sat idle)."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
from channels_redis.core import RedisChannelLayer

from tests.conftest import require_redis

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_a_receive_idle_longer_than_the_layers_blocking_pop_waits_on() -> None:
    require_redis()
    layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    assert isinstance(layer, RedisChannelLayer), "REDIS_URL is set: the Redis layer"

    async def run() -> dict[str, str]:
        channel = await layer.new_channel()
        # Nothing arrives for longer than one blocking pop: the wait goes on (our own timeout
        # ends it), it does not fail with the connection's read timeout.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(layer.receive(channel), timeout=layer.brpop_timeout + 2)
        await layer.send(channel, {"type": "after.idle"})
        return dict(await asyncio.wait_for(layer.receive(channel), timeout=10))

    assert asyncio.run(run())["type"] == "after.idle"
