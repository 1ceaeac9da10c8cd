"""The live dashboard's websocket, /ws/campaigns/<id>/: roles, an unknown campaign, and the
campaign's facts (a recorded attempt, a status change) reaching its sockets and no other
campaign's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.accounts.models import User
from apps.campaigns.consumers import CLOSE_NOT_FOUND
from apps.campaigns.services.attempts import attempt_start
from apps.campaigns.services.campaigns import campaign_set_status
from apps.interactions.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from tests.campaigns.factories import LeadFactory, make_voice_campaign

pytestmark = pytest.mark.django_db(transaction=True)


def _headers(user: User | None, origin: str = "http://testserver") -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", origin.encode()), (b"host", b"testserver")]
    if user is not None:
        client = Client()
        client.force_login(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return headers


async def _connect(path: str, headers: list[tuple[bytes, bytes]]) -> Any:
    from config.asgi import application

    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (None, CLOSE_UNAUTHENTICATED),
        ("Agent", CLOSE_FORBIDDEN),
        ("Supervisor", True),
        ("Marketer", True),
        ("Admin", True),
    ],
)
def test_the_campaign_socket_admits_marketers_supervisors_and_admins(
    make_user: Callable[..., User], role: str | None, expected: Any
) -> None:
    campaign = make_voice_campaign()
    headers = _headers(make_user(role) if role else None)

    async def run() -> Any:
        communicator = await _connect(f"/ws/campaigns/{campaign.pk}/", headers)
        closed = (
            None if await communicator.receive_nothing(timeout=0.3) else await communicator.receive_output()
        )
        await communicator.disconnect()
        return closed

    closed = async_to_sync(run)()
    if expected is True:
        assert closed is None
    else:
        assert closed == {"type": "websocket.close", "code": expected}


def test_an_unknown_campaign_closes_with_not_found(make_user: Callable[..., User]) -> None:
    headers = _headers(make_user("Marketer"))

    async def run() -> Any:
        communicator = await _connect("/ws/campaigns/999999/", headers)
        closed = await communicator.receive_output(timeout=2)
        await communicator.disconnect()
        return closed

    assert async_to_sync(run)() == {"type": "websocket.close", "code": CLOSE_NOT_FOUND}


def test_a_foreign_origin_is_refused(make_user: Callable[..., User]) -> None:
    from config.asgi import application

    campaign = make_voice_campaign()
    headers = _headers(make_user("Marketer"), origin="https://evil.example")

    async def run() -> bool:
        communicator = WebsocketCommunicator(application, f"/ws/campaigns/{campaign.pk}/", headers=headers)
        connected, _ = await communicator.connect(timeout=5)
        await communicator.disconnect()
        return bool(connected)

    assert async_to_sync(run)() is False


@pytest.mark.parametrize("role", ["Marketer", "Supervisor", "Admin"])
def test_a_recorded_attempt_reaches_the_campaigns_sockets_and_no_other(
    make_user: Callable[..., User], role: str
) -> None:
    campaign, other = make_voice_campaign(), make_voice_campaign()
    lead = LeadFactory(campaign=campaign)
    headers = _headers(make_user(role))

    async def run() -> tuple[dict[str, Any], bool]:
        mine = await _connect(f"/ws/campaigns/{campaign.pk}/", headers)
        theirs = await _connect(f"/ws/campaigns/{other.pk}/", headers)
        await database_sync_to_async(attempt_start)(lead=lead, channel="voice")
        received = await mine.receive_json_from(timeout=5)
        nothing = await theirs.receive_nothing(timeout=0.3)
        await mine.disconnect()
        await theirs.disconnect()
        return received, nothing

    received, nothing_for_other = async_to_sync(run)()

    assert received == {"kind": "campaign_activity", "id": campaign.pk}
    assert nothing_for_other


def test_a_status_change_reaches_the_dashboard_with_its_version(make_user: Callable[..., User]) -> None:
    campaign = make_voice_campaign()
    marketer = make_user("Marketer")
    headers = _headers(marketer)

    async def run() -> dict[str, Any]:
        socket = await _connect(f"/ws/campaigns/{campaign.pk}/", headers)
        await database_sync_to_async(campaign_set_status)(
            actor=marketer, campaign_id=campaign.pk, to_status="paused"
        )
        received = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        return received

    assert async_to_sync(run)() == {"kind": "campaign", "id": campaign.pk, "version": 2, "status": "paused"}


def test_what_the_browser_sends_is_ignored(make_user: Callable[..., User]) -> None:
    campaign = make_voice_campaign()
    headers = _headers(make_user("Marketer"))

    async def run() -> bool:
        socket = await _connect(f"/ws/campaigns/{campaign.pk}/", headers)
        await socket.send_json_to({"type": "heartbeat"})
        quiet = await socket.receive_nothing(timeout=0.3)
        await socket.disconnect()
        return quiet

    assert async_to_sync(run)() is True
