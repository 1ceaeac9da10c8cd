"""Text messages through a provider: the hook SMS campaigns send through.

The shape of apps.interactions.voice: campaigns sit below connectors, so they never import one;
a connector registers its gateway (`messaging.register(TwilioMessaging())` in its
AppConfig.ready) and the send path reaches it through `messaging.gateway()`. Until one is
registered, the built-in SimulatorMessagingGateway answers: it keeps every message it was given
in memory and returns an id for it, so campaigns, tests and the traffic simulator run the whole
flow (send, delivery receipt, STOP reply) without a provider.

Unlike call control, a send is never asked inside a transaction: the tick commits the attempt
first and hands the text over after commit (the provider's answer only fills in the attempt's
provider id, it decides nothing that must roll back). A gateway raises MessageSendError to refuse
a message (a number the provider rejects, an outage); the attempt is then failed and the lead
retried. Delivery receipts come back later through
apps.campaigns.services.sends.message_status_update.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from django.utils import timezone

from apps.core.exceptions import DomainError


class MessageSendError(DomainError):
    """The provider refused or could not take the message; nothing was sent."""

    code = "message_send_failed"
    http_status = 502


@runtime_checkable
class MessagingGateway(Protocol):
    """What campaigns ask of an SMS provider."""

    name: str

    def send_sms(self, to: str, body: str, from_: str) -> str:
        """Hand `body` to the provider for `to` (E.164), from `from_` (an E.164 number or a
        sender id; empty: the provider account's default). Returns the provider's message id,
        which its delivery receipts name. Raise MessageSendError to refuse. Answer within a
        few seconds: a tick sends its batch one message after another."""


@dataclass(frozen=True)
class SimulatedMessage:
    provider_id: str
    to: str
    body: str
    from_: str
    at: object


class SimulatorMessagingGateway:
    """The built-in stand-in for a provider: keeps each message (in this process) and returns
    an id "sim-<hex>". `refuse` makes the next sends to those numbers fail, as a provider
    rejecting a number would."""

    name = "simulator"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent: list[SimulatedMessage] = []
        self.refuse: set[str] = set()

    def send_sms(self, to: str, body: str, from_: str) -> str:
        if to in self.refuse:
            raise MessageSendError(f"The provider refused the message to {to}.")
        message = SimulatedMessage(
            provider_id=f"sim-{uuid.uuid4().hex}", to=to, body=body, from_=from_, at=timezone.now()
        )
        with self._lock:
            self.sent.append(message)
        return message.provider_id

    def clear(self) -> None:
        with self._lock:
            self.sent.clear()
            self.refuse.clear()


_lock = threading.Lock()
_registered: MessagingGateway | None = None


def register(gateway: MessagingGateway | None) -> MessagingGateway | None:
    """Make `gateway` the one the sends use (None: back to the simulator). Returns the one it
    replaces, so a test can put it back."""
    global _registered
    with _lock:
        previous, _registered = _registered, gateway
    return previous


def gateway() -> MessagingGateway:
    """The registered gateway, or the simulator."""
    return _registered if _registered is not None else SIMULATOR


SIMULATOR = SimulatorMessagingGateway()
