"""The websocket Origin check (apps.core.websocket): same scheme, host and port as the socket's
own URL, or one of CSRF_TRUSTED_ORIGINS; anything else, a missing Origin included, is refused
before the socket opens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.accounts.models import User
from apps.core.websocket import SameOriginValidator


class _Accepts(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()


GUARDED = SameOriginValidator(_Accepts.as_asgi())


def _connects(origin: str | None, host: str = "crm.example.com", **scope: Any) -> bool:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    extra = dict(scope.pop("headers", []))
    headers.extend(extra.items())

    async def run() -> bool:
        communicator = WebsocketCommunicator(GUARDED, "/ws/wallboard/", headers=headers)
        communicator.scope.update(scope)
        connected, _ = await communicator.connect(timeout=5)
        await communicator.disconnect()
        return connected

    return bool(async_to_sync(run)())


@pytest.fixture(autouse=True)
def _hosts(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["crm.example.com", "127.0.0.1", "[::1]"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://desk.example.org", "https://*.example.net"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "expected"),
    [
        ("http://crm.example.com", "crm.example.com", "ws", True),  # same origin
        ("http://crm.example.com:80", "crm.example.com", "ws", True),  # the default port, written out
        ("https://crm.example.com", "crm.example.com", "wss", True),
        ("http://127.0.0.1:8000", "127.0.0.1:8000", "ws", True),
        ("http://[::1]:8000", "[::1]:8000", "ws", True),
        ("HTTP://CRM.Example.com", "crm.example.com", "ws", True),  # case does not matter
        ("http://crm.example.com:8080", "crm.example.com", "ws", False),  # other port
        ("http://127.0.0.1:8001", "127.0.0.1:8000", "ws", False),
        ("https://crm.example.com", "crm.example.com", "ws", False),  # other scheme
        ("http://crm.example.com", "crm.example.com", "wss", False),
        ("http://evil.example", "crm.example.com", "ws", False),  # other host
        ("http://crm.example.com.evil.example", "crm.example.com", "ws", False),
        ("http://evil.example", "evil.example", "ws", False),  # same origin, but not an allowed host
        ("https://desk.example.org", "crm.example.com", "wss", True),  # trusted origin
        ("https://desk.example.org:8443", "crm.example.com", "wss", False),  # trusted host, other port
        ("http://desk.example.org", "crm.example.com", "ws", False),  # trusted host, other scheme
        ("https://eu.example.net", "crm.example.com", "wss", True),  # trusted wildcard
        ("https://example.net.evil.example", "crm.example.com", "wss", False),
        ("null", "crm.example.com", "ws", False),  # sandboxed frame, file://
        ("http://crm.example.com/desk/", "crm.example.com", "ws", False),  # not an origin
        ("chrome-extension://abc", "crm.example.com", "ws", False),
        ("http://crm.example.com:port", "crm.example.com", "ws", False),
    ],
)
def test_the_origin_must_match_scheme_host_and_port(
    origin: str, host: str, scheme: str, expected: bool
) -> None:
    assert _connects(origin, host, scheme=scheme) is expected


def test_a_missing_origin_is_refused_whatever_debug_says(settings: Any) -> None:
    settings.DEBUG = True

    assert _connects(None) is False


def test_a_missing_host_is_refused() -> None:
    async def run() -> bool:
        communicator = WebsocketCommunicator(
            GUARDED, "/ws/wallboard/", headers=[(b"origin", b"http://crm.example.com")]
        )
        connected, _ = await communicator.connect(timeout=5)
        await communicator.disconnect()
        return connected

    assert async_to_sync(run)() is False


def test_behind_a_tls_proxy_the_forwarded_scheme_counts() -> None:
    # daphne's websocket scope says ws:// behind a proxy that terminated TLS; the proxy's header
    # (SECURE_PROXY_SSL_HEADER, as for HTTP) says the page was https.
    forwarded = {"headers": [(b"x-forwarded-proto", b"https")]}

    assert _connects("https://crm.example.com", scheme="ws", **forwarded) is True
    assert _connects("http://crm.example.com", scheme="ws", **forwarded) is False


def test_without_a_proxy_header_setting_the_forwarded_scheme_is_ignored(settings: Any) -> None:
    settings.SECURE_PROXY_SSL_HEADER = None

    assert (
        _connects("https://crm.example.com", scheme="ws", headers=[(b"x-forwarded-proto", b"https")]) is False
    )


@pytest.mark.django_db(transaction=True)
def test_the_real_sockets_are_guarded(make_user: Callable[..., User], settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["testserver"]
    client = Client()
    client.force_login(make_user("Supervisor"))
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())

    async def connects(origin: str) -> bool:
        from config.asgi import application

        headers = [(b"host", b"testserver"), (b"origin", origin.encode()), cookie]
        communicator = WebsocketCommunicator(application, "/ws/wallboard/", headers=headers)
        connected, _ = await communicator.connect(timeout=5)
        await communicator.disconnect()
        return connected

    assert async_to_sync(connects)("http://testserver") is True
    assert async_to_sync(connects)("http://testserver:8000") is False
    assert async_to_sync(connects)("https://testserver") is False
