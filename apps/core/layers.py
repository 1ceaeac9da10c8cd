"""The embedded mode's channel layer: Channels' in-memory layer, made to cross processes.

Why: with no REDIS_URL every process has its own InMemoryChannelLayer, and only the web process
(daphne) holds websockets. An event that the Celery worker (beat's offer, wrap-up and overflow
timers run there) or the traffic simulator publishes would land in a layer nobody listens to.

How: `manage.py run_stack` gives every child except the web one SWITCHBOARD_EVENT_RELAY, the URL
of the web process's internal endpoint (apps.core.views.event_relay). In such a process
group_send does not deliver locally (it has no consumers); it POSTs the group and the message as
JSON, signed with an HMAC of SECRET_KEY over a timestamp and the body. The endpoint refuses
anything unsigned, forged, outside the replay window or replayed (403, nothing delivered) and
does group_send on daphne's own in-memory layer, where the websockets are.

What it is not: a broker. Nothing is stored or retried; a POST has a short timeout and a failure
is logged, never raised, and the next ones are skipped for a moment while the web process is
down (it is starting, or the stack is stopping). That is the contract of every real-time event
here: events are facts a client may miss, since it reloads state on (re)connect. Production
(REDIS_URL) uses channels_redis and never loads this class. Only group_send crosses processes:
a non-web process has no consumers, so group_add, send and receive stay local.

Without the variable (tests, single-process use, the web process itself) the class is exactly
InMemoryChannelLayer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlparse

from channels.layers import InMemoryChannelLayer
from django.conf import settings
from django.http.request import validate_host
from django.utils.crypto import constant_time_compare, salted_hmac

logger = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Switchboard-Timestamp"
SIGNATURE_HEADER = "X-Switchboard-Signature"
NONCE_HEADER = "X-Switchboard-Nonce"
# A relayed event older or newer than this is refused: a captured request cannot be replayed
# later, and inside the window the endpoint refuses a nonce it has already admitted.
REPLAY_WINDOW_SECONDS = 30
_SALT = "apps.core.layers.event-relay"


def sign(body: bytes, timestamp: str, nonce: str) -> str:
    """HMAC-SHA256 of "<timestamp>.<nonce>.<body>" keyed by SECRET_KEY (salted for this use only).
    The nonce makes two sends of the same event two requests, and a replay of one detectable."""
    signed = f"{timestamp}.{nonce}.".encode() + body
    return salted_hmac(_SALT, signed, algorithm="sha256").hexdigest()


def refusal(body: bytes, timestamp: str, nonce: str, signature: str, *, now: float) -> str | None:
    """Why a relayed request must be refused, or None when its signature is good and fresh
    (whether its nonce was seen before is the receiver's memory: apps.core.views)."""
    if not timestamp or not nonce or not signature:
        return "unsigned"
    try:
        sent_at = int(timestamp)
    except ValueError:
        return "bad timestamp"
    if abs(now - sent_at) > REPLAY_WINDOW_SECONDS:
        return "outside the replay window"
    if not constant_time_compare(sign(body, timestamp, nonce), signature):
        return "bad signature"
    return None


class RelayChannelLayer(InMemoryChannelLayer):
    """InMemoryChannelLayer; with `relay_url`, group_send goes to the web process instead."""

    # After a failed POST, events are dropped (not queued) for this long, so a process whose web
    # peer is gone does not wait a timeout per event.
    PAUSE_AFTER_FAILURE_SECONDS = 2.0

    def __init__(self, relay_url: str = "", relay_timeout: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.relay_url = relay_url
        self.relay_timeout = relay_timeout
        self._paused_until = 0.0
        self._host: str | None = None

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        if not self.relay_url:
            await super().group_send(group, message)
            return
        await asyncio.to_thread(self.relay, group, message)

    def relay(self, group: str, message: dict[str, Any]) -> bool:
        """POST one group message to the web process (blocking, short timeout). Returns whether
        the web process took it; failures are logged, never raised."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        if time.monotonic() < self._paused_until:
            logger.debug("event relay paused: dropped %s to %s", message.get("type"), group)
            return False
        try:
            body = json.dumps({"group": group, "message": message}, separators=(",", ":")).encode()
        except (TypeError, ValueError):
            logger.exception("event for %s is not JSON: not relayed", group)
            return False
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        request = urllib.request.Request(  # noqa: S310 - relay_url is http(s), checked by settings
            self.relay_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Host": self._host_header(),
                # Loopback to our own web process: the TLS a proxy would terminate is not there,
                # and SECURE_SSL_REDIRECT must not bounce the POST.
                "X-Forwarded-Proto": "https",
                TIMESTAMP_HEADER: timestamp,
                NONCE_HEADER: nonce,
                SIGNATURE_HEADER: sign(body, timestamp, nonce),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.relay_timeout) as response:  # noqa: S310
                response.read()
        except (OSError, urllib.error.URLError) as error:
            self._paused_until = time.monotonic() + self.PAUSE_AFTER_FAILURE_SECONDS
            logger.warning(
                "event relay to %s failed (%s): %s to %s dropped",
                self.relay_url,
                error,
                message.get("type"),
                group,
            )
            return False
        return True

    def _host_header(self) -> str:
        """The URL's host when ALLOWED_HOSTS admits it, else the first concrete allowed host (a
        DEBUG-off embedded stack lists its public name only)."""
        if self._host is None:
            netloc = urlparse(self.relay_url).netloc
            host = netloc.rsplit(":", 1)[0] if not netloc.endswith("]") else netloc
            self._host = netloc
            if not validate_host(host, settings.ALLOWED_HOSTS):
                concrete = [h.lstrip(".") for h in settings.ALLOWED_HOSTS if h not in {"*", ""}]
                if concrete:
                    self._host = concrete[0]
        return self._host
