"""Websockets of the contact center. Consumers only authenticate (session, Origin checked by
config.asgi), check the role, join their groups and forward events; state comes from the
server's pages and API, which a client reloads on every (re)connect before applying events
newer than what it holds.

/ws/agent/      the signed-in agent: offers, interaction and state changes (group agent.<id>);
                the client's heartbeats keep the agent's presence fresh, and each answer says
                which offers are open for the agent and the agent's state version, so a page
                that missed an event learns of it within a heartbeat.
/ws/wallboard/  supervisors and admins: every queue and agent change (group wallboard).

A socket renews its groups every third of the layer's group_expiry (settings: 5 minutes on
Redis) for as long as it is open. A daphne that dies without closing its sockets cannot discard
them, and the layer cannot tell a dead member from a quiet one: without renewal they would stay
members for group_expiry, and every event would still be pushed to them (channels_redis's
default is a day, so a day of wallboard events written to hundreds of dead keys after a crash).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.accounts.roles import Role, has_role
from apps.interactions import events

logger = logging.getLogger(__name__)

# Close codes in the private range: the client tells "sign in again" from "not for you".
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class _EventConsumer(AsyncJsonWebsocketConsumer, ABC):
    roles: tuple[Role, ...] = ()

    async def connect(self) -> None:
        # A refusal accepts first, then closes with its code: closing before accepting makes
        # daphne refuse the handshake with HTTP 403, which the browser reports as a bare 1006,
        # and the page (static/js/live.js) would retry forever instead of going to the login.
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await database_sync_to_async(has_role)(user, *self.roles):
            await self.accept()
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.joined = self.groups_for(user)
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        self.renewal = asyncio.get_running_loop().create_task(self._renew_groups())
        await self.on_open(user)

    async def _renew_groups(self) -> None:
        """Join the groups again every third of group_expiry while the socket is open: a member
        is dropped once it has not joined for group_expiry (see the module)."""
        interval = getattr(self.channel_layer, "group_expiry", 86400) / 3
        while True:
            await asyncio.sleep(interval)
            for group in self.joined:
                try:
                    await self.channel_layer.group_add(group, self.channel_name)
                except Exception:  # the layer is down: the next round tries again
                    logger.warning("renewing %s in %s failed", self.channel_name, group, exc_info=True)

    @abstractmethod
    def groups_for(self, user: Any) -> list[str]:
        """The channel-layer groups this user's socket joins."""

    async def on_open(self, user: Any) -> None:
        """Hook run once the socket is accepted."""

    async def disconnect(self, code: int) -> None:
        renewal = getattr(self, "renewal", None)
        if renewal is not None:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def event(self, message: dict[str, Any]) -> None:
        """A published fact (apps.interactions.events.publish): forwarded as is."""
        await self.send_json(message["payload"])

    async def event_batch(self, message: dict[str, Any]) -> None:
        """Several facts published together to this group (events._Publisher), in order."""
        for payload in message["payloads"]:
            await self.send_json(payload)


class AgentConsumer(_EventConsumer):
    roles = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)

    def groups_for(self, user: Any) -> list[str]:
        return [events.agent_group(user.pk)]

    async def on_open(self, user: Any) -> None:
        await database_sync_to_async(_seen)(user.pk)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """A heartbeat keeps the agent's presence fresh and is answered with the agent's pulse
        (selectors.agent_desk_pulse): the desk compares it with what it shows and reloads its
        work when they differ, so an offer whose event never reached this socket still pops."""
        if isinstance(content, dict) and content.get("type") == "heartbeat":
            answer = await database_sync_to_async(_heartbeat)(self.scope["user"].pk)
            await self.send_json(answer)


class WallboardConsumer(_EventConsumer):
    roles = (Role.SUPERVISOR, Role.ADMIN)

    def groups_for(self, user: Any) -> list[str]:
        return [events.WALLBOARD_GROUP]


def _seen(user_id: int) -> None:
    from apps.interactions.services import agent_seen

    agent_seen(user_id=user_id)


def _heartbeat(user_id: int) -> dict[str, Any]:
    from apps.interactions.selectors import agent_desk_pulse

    _seen(user_id)
    pulse = agent_desk_pulse(user_id=user_id)
    if pulse is None:
        return {"kind": "heartbeat"}
    return {
        "kind": "heartbeat",
        "agent_version": pulse.agent_version,
        "presence": pulse.presence,
        "offers": [{"id": pk, "version": version} for pk, version in pulse.offers],
    }
