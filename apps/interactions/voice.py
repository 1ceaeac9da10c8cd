"""Call control through a connector: the hooks the services call to hold, mute, hang up,
transfer and conference a voice or video call, and to let a supervisor listen, whisper or barge.

interactions sits below connectors, so it never imports them: a connector registers its gateway
(`voice.register(TwilioGateway())` in its AppConfig.ready) and the services reach it through
`voice.gateway()`. Until one is registered, the built-in SimulatorGateway answers: it records
each command it was given as an event row (kind "voice_gateway") and succeeds, so the desktop,
the API and the tests run the whole flow without a provider.

Outbound calls go the other way: services.interaction_originate asks the gateway to place the
call (originate) and the connector reports what the call did through
services.interaction_call_progress (ringing, answered, busy, no answer, machine, failed).

The services call the gateway inside their transaction, after their checks and with the call's
rows locked, and before they record the new call state: call control is a question to the
provider whose answer decides the state (a hold the provider refused must not show as on hold,
or the agent speaks believing the customer cannot hear). A gateway raises VoiceGatewayError to
refuse, which rolls the whole action back; it must answer quickly (a few seconds' timeout at
most, since it runs under row locks) and treat a repeated command (hang_up of a call the
customer already ended) as done.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

from django.utils import timezone

from apps.interactions.models import Interaction, InteractionEvent, InteractionParticipant

MONITOR_MODES = ("listen", "whisper", "barge")


@runtime_checkable
class VoiceGateway(Protocol):
    """What the contact center asks of a telephony provider. Each method gets the locked
    interaction (its provider call id is the connector's business); raise
    apps.interactions.exceptions.VoiceGatewayError to refuse."""

    name: str

    def hold(self, interaction: Interaction) -> None: ...

    def resume(self, interaction: Interaction) -> None: ...

    def mute(self, interaction: Interaction) -> None: ...

    def unmute(self, interaction: Interaction) -> None: ...

    def hang_up(self, interaction: Interaction) -> None: ...

    def transfer(self, interaction: Interaction, *, to_queue_id: int | None, to_agent_id: int | None) -> None:
        """Move the customer's leg away from the agent: to a queue's waiting music, or ringing
        another agent (the offer that follows is routed as usual)."""

    def conference_add(self, interaction: Interaction, participant: InteractionParticipant) -> None:
        """Dial the participant (an agent's device or an outside number) into the call."""

    def monitor(self, interaction: Interaction, participant: InteractionParticipant, mode: str) -> None:
        """Connect a supervisor in `mode` (listen, whisper or barge). A supervisor may already be
        on the call in another mode (a switch: their previous participant row has just been
        closed, without participant_remove): change their leg's mode rather than dial again."""

    def participant_remove(self, interaction: Interaction, participant: InteractionParticipant) -> None:
        """Drop one participant's leg; the call goes on."""

    def originate(self, interaction: Interaction, *, to_number: str, caller_id: str) -> None:
        """Place an outbound call to `to_number` (E.164) for the interaction (status dialing),
        showing `caller_id` when given. Returns once the provider took the request; what the
        call does next (ringing, answered, busy, no answer, an answering machine, failed) the
        connector reports later through services.interaction_call_progress, from its status
        callbacks. When the interaction has a reserved agent, the answered call connects to
        that agent's device; without one it waits in its queue for the next agent."""


class SimulatorGateway:
    """The built-in stand-in for a provider: records every command as an event row on the
    interaction, from and to its current status so the event chain stays whole, and succeeds."""

    name = "simulator"

    def _record(self, interaction: Interaction, command: str, **data: object) -> None:
        InteractionEvent.objects.create(
            interaction=interaction,
            kind="voice_gateway",
            from_status=interaction.status,
            to_status=interaction.status,
            agent_id=interaction.agent_id,
            queue_id=interaction.queue_id,
            at=timezone.now(),
            data={"gateway": self.name, "command": command, **data},
        )

    def hold(self, interaction: Interaction) -> None:
        self._record(interaction, "hold")

    def resume(self, interaction: Interaction) -> None:
        self._record(interaction, "resume")

    def mute(self, interaction: Interaction) -> None:
        self._record(interaction, "mute")

    def unmute(self, interaction: Interaction) -> None:
        self._record(interaction, "unmute")

    def hang_up(self, interaction: Interaction) -> None:
        self._record(interaction, "hang_up")

    def transfer(self, interaction: Interaction, *, to_queue_id: int | None, to_agent_id: int | None) -> None:
        self._record(interaction, "transfer", to_queue=to_queue_id, to_agent=to_agent_id)

    def conference_add(self, interaction: Interaction, participant: InteractionParticipant) -> None:
        self._record(
            interaction,
            "conference_add",
            participant=participant.pk,
            agent=participant.agent_id,
            number=participant.number,
        )

    def monitor(self, interaction: Interaction, participant: InteractionParticipant, mode: str) -> None:
        self._record(interaction, "monitor", participant=participant.pk, user=participant.user_id, mode=mode)

    def participant_remove(self, interaction: Interaction, participant: InteractionParticipant) -> None:
        self._record(interaction, "participant_remove", participant=participant.pk)

    def originate(self, interaction: Interaction, *, to_number: str, caller_id: str) -> None:
        """Records the call placed; the simulator never answers by itself: a test or the traffic
        simulator reports the outcome through services.interaction_call_progress."""
        self._record(interaction, "originate", to_number=to_number, caller_id=caller_id)


_lock = threading.Lock()
_registered: VoiceGateway | None = None


def register(gateway: VoiceGateway | None) -> VoiceGateway | None:
    """Make `gateway` the one the services use (None: back to the simulator). Returns the one
    it replaces, so a test can put it back."""
    global _registered
    with _lock:
        previous, _registered = _registered, gateway
    return previous


def gateway() -> VoiceGateway:
    """The registered gateway, or the simulator."""
    return _registered if _registered is not None else _SIMULATOR


_SIMULATOR = SimulatorGateway()
