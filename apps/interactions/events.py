"""Real-time facts, published after commit: what changed (kind, id, version), never business
state a client should trust over a reload. Groups: "agent.<user id>" (the agent's own desktop)
and "wallboard" (supervisors). Timers (offer timeouts, wrap-up) are scheduled here too, after
commit, so a rolled-back offer schedules nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import threading
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


class _Publisher:
    """Sends from synchronous code (services in a Celery worker, a command, a test) through one
    asyncio loop per process, kept in a daemon thread, so channels_redis reuses its connections:
    async_to_sync would start a loop, and channels_redis open connections, for every event
    (about 6 ms each, measured). The in-memory layer keeps async_to_sync: it must run on the
    loop of the consumers it feeds (daphne's, reached from a view's thread). The embedded
    relay (apps.core.layers, in the worker, beat, simulator) is a plain blocking POST."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked child needs its own
                self._loop = asyncio.new_event_loop()
                threading.Thread(
                    target=self._loop.run_forever, name="channel-layer-publisher", daemon=True
                ).start()
                self._pid = os.getpid()
            return self._loop

    def group_send(self, layer: Any, group: str, message: dict[str, Any]) -> None:
        if isinstance(layer, RelayChannelLayer) and layer.relay_url:
            layer.relay(group, message)  # a blocking POST to the web process: no loop needed
            return
        if isinstance(layer, InMemoryChannelLayer):
            async_to_sync(layer.group_send)(group, message)
            return
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), self._running_loop())
        future.result(timeout=SEND_TIMEOUT_SECONDS)

    def group_send_many(
        self, layer: Any, groups: list[str], message: dict[str, Any]
    ) -> list[BaseException | None]:
        """group_send of one message to several groups; on the publisher's loop the sends run
        concurrently (one wait instead of one per group). The outcome of each group, in order:
        None or the exception it raised."""
        if isinstance(layer, (RelayChannelLayer, InMemoryChannelLayer)) or len(groups) < 2:
            outcomes: list[BaseException | None] = []
            for group in groups:
                try:
                    self.group_send(layer, group, message)
                    outcomes.append(None)
                except Exception as exc:
                    outcomes.append(exc)
            return outcomes

        async def send_all() -> list[Any]:
            return await asyncio.gather(
                *(layer.group_send(group, message) for group in groups), return_exceptions=True
            )

        future = asyncio.run_coroutine_threadsafe(send_all(), self._running_loop())
        try:
            results = future.result(timeout=SEND_TIMEOUT_SECONDS)
        except Exception as exc:
            return [exc for _ in groups]
        return [result if isinstance(result, BaseException) else None for result in results]


_publisher = _Publisher()
SEND_TIMEOUT_SECONDS = 5


def send(group: str, payload: dict[str, Any]) -> None:
    """group_send now to one group (what publish does after commit, for each of its groups)."""
    send_many([group], payload)


def send_many(groups: list[str], payload: dict[str, Any]) -> None:
    """group_send now to several groups (concurrently on the Redis layer). Failures are logged
    per group, never raised: a lost push costs a client nothing but freshness, since clients
    reload state on (re)connect."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "event", "payload": payload}
    try:
        outcomes = _publisher.group_send_many(layer, groups, message)
    except Exception:
        logger.exception("publishing %s to %s failed", payload.get("kind"), groups)
        return
    for group, error in zip(groups, outcomes, strict=True):
        if error is not None:
            logger.error("publishing %s to %s failed", payload.get("kind"), group, exc_info=error)


def publish(groups: list[str], payload: dict[str, Any]) -> None:
    def deliver() -> None:
        send_many(groups, payload)

    transaction.on_commit(deliver)


def _agent_groups(interaction: Interaction) -> list[str]:
    """The group of the agent the interaction is with, if any."""
    if interaction.agent_id is None:
        return []
    loaded = interaction._state.fields_cache.get("agent")  # the caller's agent row, when it has it
    if isinstance(loaded, AgentProfile) and loaded.pk == interaction.agent_id:
        return [agent_group(loaded.user_id)]
    user_id = AgentProfile.objects.filter(pk=interaction.agent_id).values_list("user_id", flat=True).first()
    return [] if user_id is None else [agent_group(user_id)]


def interaction_changed(interaction: Interaction) -> None:
    payload = {
        "kind": "interaction",
        "id": interaction.pk,
        "version": interaction.version,
        "status": interaction.status,
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


def offer_expiry_schedule(interaction: Interaction) -> None:
    """The offer's timeout runs as a task at its expiry; beat's offers_expire_due catches any
    that a lost task missed."""
    if interaction.offer_expires_at is None:
        return
    interaction_id, version, eta = interaction.pk, interaction.version, interaction.offer_expires_at

    def schedule() -> None:
        from apps.interactions import tasks

        try:
            tasks.offer_expire.apply_async(args=[interaction_id, version], eta=eta)
        except Exception:
            logger.exception("could not schedule the offer timeout of interaction %s", interaction_id)

    transaction.on_commit(schedule)
