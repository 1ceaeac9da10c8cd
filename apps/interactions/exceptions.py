"""Domain errors of the contact center; apps.core.api maps them to HTTP."""

from __future__ import annotations

from apps.core.exceptions import Conflict, DomainError


class InvalidTransition(Conflict):
    """The interaction or agent is not in a state that allows the action (stale page, a second
    click, an offer that already timed out)."""

    code = "invalid_transition"


class QueueFull(Conflict):
    code = "queue_full"


class QueueClosed(DomainError):
    code = "queue_closed"


class ChannelNotServed(DomainError):
    code = "channel_not_served"


class DispositionRequired(DomainError):
    code = "disposition_required"
