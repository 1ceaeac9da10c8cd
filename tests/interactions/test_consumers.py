"""Websockets: session authentication, Origin check, roles per endpoint, and events published
after commit reaching the agent's and the wallboard's sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.accounts.models import User
from apps.core.actors import SYSTEM
from apps.interactions import events, selectors, services
from apps.interactions.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from apps.interactions.models import AgentProfile, Interaction, Presence
from tests.interactions.factories import make_queue

pytestmark = pytest.mark.django_db(transaction=True)


def _headers(user: User | None, origin: str = "http://testserver") -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", origin.encode()), (b"host", b"testserver")]
    if user is not None:
        client = Client()
        client.force_login(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return headers


def _application() -> Any:
    from config.asgi import application

    return application


async def _connect(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[Any, bool, Any]:
    communicator = WebsocketCommunicator(_application(), path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


@pytest.mark.parametrize(
    ("path", "role", "expected"),
    [
        ("/ws/agent/", None, CLOSE_UNAUTHENTICATED),
        ("/ws/agent/", "Agent", True),
        ("/ws/agent/", "Supervisor", True),
        ("/ws/agent/", "Admin", True),
        ("/ws/agent/", "Marketer", CLOSE_FORBIDDEN),
        ("/ws/wallboard/", None, CLOSE_UNAUTHENTICATED),
        ("/ws/wallboard/", "Agent", CLOSE_FORBIDDEN),
        ("/ws/wallboard/", "Marketer", CLOSE_FORBIDDEN),
        ("/ws/wallboard/", "Supervisor", True),
        ("/ws/wallboard/", "Admin", True),
    ],
)
def test_each_websocket_admits_only_its_roles(
    make_user: Callable[..., User], path: str, role: str | None, expected: Any
) -> None:
    headers = _headers(make_user(role) if role else None)

    async def run() -> tuple[bool, Any]:
        communicator, connected, _ = await _connect(path, headers)
        # A refusal is accepted, then closed with its code (a handshake refused before accepting
        # reaches the browser as a bare 1006, and the page would reconnect forever).
        closed = (
            None if await communicator.receive_nothing(timeout=0.3) else await communicator.receive_output()
        )
        await communicator.disconnect()
        return connected, closed

    connected, closed = async_to_sync(run)()
    assert connected
    if expected is True:
        assert closed is None
    else:
        assert closed == {"type": "websocket.close", "code": expected}


def test_a_foreign_origin_is_refused(make_user: Callable[..., User]) -> None:
    headers = _headers(make_user("Supervisor"), origin="https://evil.example")

    async def run() -> bool:
        communicator, connected, _ = await _connect("/ws/wallboard/", headers)
        await communicator.disconnect()
        return connected

    assert async_to_sync(run)() is False


def test_an_offer_reaches_its_agent_and_the_wallboard_and_nobody_else(make_user: Callable[..., User]) -> None:
    from tests.interactions.factories import make_agent

    queue = make_queue()
    agent = make_agent(queue)
    other = make_agent(queue, available=False)
    supervisor = make_user("Supervisor")
    mine_headers, theirs_headers, board_headers = (_headers(u) for u in (agent.user, other.user, supervisor))

    async def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
        mine, ok1, _ = await _connect("/ws/agent/", mine_headers)
        theirs, ok2, _ = await _connect("/ws/agent/", theirs_headers)
        board, ok3, _ = await _connect("/ws/wallboard/", board_headers)
        assert ok1 and ok2 and ok3
        from channels.db import database_sync_to_async

        interaction = await database_sync_to_async(services.interaction_enqueue)(
            actor=SYSTEM, queue=queue, channel="chat"
        )
        received = [await mine.receive_json_from(timeout=5) for _ in range(2)]
        on_board = [await board.receive_json_from(timeout=5) for _ in range(2)]
        nothing_for_other = await theirs.receive_nothing(timeout=0.3)
        for communicator in (mine, theirs, board):
            await communicator.disconnect()
        assert interaction.pk
        return received, on_board, nothing_for_other

    received, on_board, nothing_for_other = async_to_sync(run)()

    assert [(e["kind"], e.get("status") or e.get("state")) for e in received] == [
        ("interaction", "offered"),
        ("agent", "offered"),
    ]
    # Offered in its enqueue's transaction: the interaction is never seen queued (its queued
    # event row still records the arrival).
    assert [(e["kind"], e.get("status") or e.get("state")) for e in on_board] == [
        ("interaction", "offered"),
        ("agent", "offered"),
    ]
    assert nothing_for_other


def test_heartbeats_keep_presence_and_silence_times_out(make_user: Callable[..., User]) -> None:
    import datetime as dt

    from django.utils import timezone

    from tests.interactions.factories import make_agent

    agent = make_agent(make_queue())
    AgentProfile.objects.filter(pk=agent.pk).update(last_seen_at=timezone.now() - dt.timedelta(minutes=10))
    headers = _headers(agent.user)

    async def run() -> dict[str, Any]:
        communicator, connected, _ = await _connect("/ws/agent/", headers)
        assert connected
        await communicator.send_json_to({"type": "heartbeat"})
        reply = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return reply

    assert async_to_sync(run)() == {
        "kind": "heartbeat",
        "agent_version": agent.version,
        "presence": "available",
        "offers": [],
    }
    assert services.agents_presence_timeout() == 0
    agent.refresh_from_db()
    assert agent.presence == Presence.AVAILABLE  # a closed socket alone changes nothing

    later = timezone.now() + services.PRESENCE_TIMEOUT + dt.timedelta(seconds=1)
    assert services.agents_presence_timeout(now=later) == 1
    agent.refresh_from_db()
    assert (agent.presence, agent.state) == (Presence.OFFLINE, "offline")


def test_a_batch_of_events_reaches_the_socket_as_one_frame_each_in_order(
    make_user: Callable[..., User],
) -> None:
    from channels.layers import get_channel_layer

    from apps.interactions import events
    from tests.interactions.factories import make_agent

    agent = make_agent(make_queue())
    headers = _headers(agent.user)
    batch = [{"kind": "interaction", "id": 7, "version": n} for n in (1, 2, 3)]

    async def run() -> list[Any]:
        desk, connected, _ = await _connect("/ws/agent/", headers)
        assert connected
        layer = get_channel_layer()
        await layer.group_send(events.agent_group(agent.user_id), {"type": "event.batch", "payloads": batch})
        frames = [await desk.receive_json_from(timeout=5) for _ in batch]
        await desk.disconnect()
        return frames

    assert async_to_sync(run)() == batch


def test_a_socket_renews_its_groups_and_a_member_that_does_not_is_dropped(
    make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member that stops renewing (its daphne died without closing its sockets) leaves the
    group after group_expiry; an open socket stays, however long it is open."""
    layer = get_channel_layer()
    assert layer is not None
    monkeypatch.setattr(layer, "group_expiry", 2)  # the socket renews every 2/3 s
    headers = _headers(make_user("Supervisor"))

    async def run() -> tuple[Any, bool]:
        communicator, connected, _ = await _connect("/ws/wallboard/", headers)
        assert connected
        stale = await layer.new_channel()
        await layer.group_add(events.WALLBOARD_GROUP, stale)
        await asyncio.sleep(3.5)  # both joined longer than group_expiry ago
        await layer.group_send(events.WALLBOARD_GROUP, {"type": "event", "payload": {"kind": "probe"}})
        got = await communicator.receive_json_from(timeout=5)
        try:
            await asyncio.wait_for(layer.receive(stale), timeout=0.5)
            stale_got = True
        except TimeoutError:
            stale_got = False
        await communicator.disconnect()
        return got, stale_got

    assert async_to_sync(run)() == ({"kind": "probe"}, False)


def test_the_heartbeat_answer_names_the_agents_open_offers_and_state_version(
    make_user: Callable[..., User], django_assert_max_num_queries: Any
) -> None:
    """The desk compares the answer with what it shows: an offer whose event never reached the
    socket is in the answer, so the page reloads its work and the offer pops."""
    from channels.db import database_sync_to_async

    from tests.interactions.factories import make_agent

    # Given an agent with two chats offered, one accepted, and another agent's offer
    queue = make_queue(offer_timeout_seconds=60)
    agent = make_agent(queue, capacity={"chat": 3})
    chats = [services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat") for _ in range(3)]
    services.interaction_accept(actor=agent.user, interaction_id=chats[2].pk)
    other = make_agent(make_queue(name="Other"))
    services.interaction_enqueue(actor=SYSTEM, queue=other.queues.get(), channel="chat")
    offered = {c.pk: Interaction.objects.get(pk=c.pk).version for c in chats[:2]}
    agent.refresh_from_db()
    headers = _headers(agent.user)

    async def run() -> tuple[dict[str, Any], dict[str, Any]]:
        communicator, connected, _ = await _connect("/ws/agent/", headers)
        assert connected
        await communicator.send_json_to({"type": "heartbeat"})
        with_offers = await communicator.receive_json_from(timeout=5)
        # When the offers are answered without the socket hearing of it
        for pk in offered:
            await database_sync_to_async(services.interaction_reject)(actor=agent.user, interaction_id=pk)
        while not await communicator.receive_nothing(timeout=0.2):
            await communicator.receive_json_from(timeout=1)  # the rejections' own events
        await communicator.send_json_to({"type": "heartbeat"})
        without = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return with_offers, without

    # When the desk sends a heartbeat
    with_offers, without = async_to_sync(run)()

    # Then the answer carries the agent's state version and exactly their open offers
    assert with_offers == {
        "kind": "heartbeat",
        "agent_version": agent.version,
        "presence": "available",
        "offers": [{"id": pk, "version": version} for pk, version in sorted(offered.items())],
    }
    agent.refresh_from_db()
    assert without == {
        "kind": "heartbeat",
        "agent_version": agent.version,
        "presence": "available",
        "offers": [],
    }
    assert without["agent_version"] > with_offers["agent_version"]

    # And the pulse it forwards is one query
    with django_assert_max_num_queries(1):
        pulse = selectors.agent_desk_pulse(user_id=agent.user_id)
    assert pulse == selectors.DeskPulse(agent_version=agent.version, presence="available", offers=[])


def test_a_heartbeat_of_a_user_without_an_agent_profile_is_answered_plainly(
    make_user: Callable[..., User],
) -> None:
    supervisor = make_user("Supervisor")
    headers = _headers(supervisor)

    async def run() -> dict[str, Any]:
        communicator, connected, _ = await _connect("/ws/agent/", headers)
        assert connected
        await communicator.send_json_to({"type": "heartbeat"})
        reply = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return reply

    assert async_to_sync(run)() == {"kind": "heartbeat"}
    assert not AgentProfile.objects.filter(user=supervisor).exists()


def test_a_heartbeat_writes_the_agents_last_seen_at_most_every_twenty_seconds() -> None:
    import datetime as dt

    from django.utils import timezone

    from tests.interactions.factories import make_agent

    agent = make_agent(make_queue())
    recent = timezone.now() - dt.timedelta(seconds=5)
    AgentProfile.objects.filter(pk=agent.pk).update(last_seen_at=recent)

    services.agent_seen(user_id=agent.user_id)
    agent.refresh_from_db()
    assert agent.last_seen_at == recent  # a fast heartbeat does not rewrite the row

    later = recent + dt.timedelta(seconds=21)
    services.agent_seen(user_id=agent.user_id, now=later)
    agent.refresh_from_db()
    assert agent.last_seen_at == later
