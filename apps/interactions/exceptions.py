"""Domain errors of the contact center; apps.core.api maps them to HTTP."""

from __future__ import annotations

from apps.core.exceptions import Conflict, DomainError


class InvalidTransition(Conflict):
    """The interaction or agent is not in a state that allows the action (stale page, a second
    click, an offer that already timed out)."""

    code = "invalid_transition"


class QueueFull(Conflict):
    code = "queue_full"


class QueueClosed(Conflict):
    """The queue is outside its business hours (or switched off) and the action cannot wait
    for it: a transfer of a call or chat to it. Nothing changed."""

    code = "queue_closed"


class ChannelNotServed(DomainError):
    code = "channel_not_served"


class DispositionRequired(DomainError):
    code = "disposition_required"


class InvalidTarget(DomainError):
    """A transfer or conference names no target, two targets, or one that does not exist."""

    code = "invalid_target"


class AgentUnavailable(Conflict):
    """The agent chosen for a transfer or conference is not available, has no free slot for the
    channel, or is on a call. Nothing changed: choose someone else or a queue."""

    code = "agent_unavailable"


class NotAVoiceInteraction(DomainError):
    """Call control (hold, mute, conference, monitoring) on a text interaction."""

    code = "not_voice"


class VoiceGatewayError(DomainError):
    """The telephony provider refused or failed a call-control command; nothing was recorded."""

    code = "voice_gateway_error"
    http_status = 502


class UnknownAction(DomainError):
    """A call-control action or monitoring mode the contact center does not know."""

    code = "unknown_action"


class ContactRefused(Conflict):
    """An outbound contact to a number or address whose consent refuses it (do-not-call, an email
    opt-out). Nothing was written or placed."""

    code = "contact_refused"
