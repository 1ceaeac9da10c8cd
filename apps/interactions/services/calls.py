"""Call control of voice and video interactions: hold, mute, conference, supervisor monitoring,
and what happens to participants when a call ends or moves."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.roles import Role, has_role
from apps.core.actors import Actor, is_system
from apps.core.exceptions import NotAllowed
from apps.customers.exceptions import InvalidContact
from apps.customers.normalize import normalize_phone
from apps.interactions import acd, events, voice
from apps.interactions.exceptions import (
    InvalidTarget,
    InvalidTransition,
    NotAVoiceInteraction,
    UnknownAction,
)
from apps.interactions.models import (
    REAL_TIME_CHANNELS,
    AgentProfile,
    Interaction,
    InteractionParticipant,
    InteractionStatus,
    ParticipantRole,
)
from apps.interactions.services.agents import check_available
from apps.interactions.services.locking import Held, lock_agent_then_interaction, lock_agents_then_interaction
from apps.interactions.services.policy import actor_id, check_own, is_own, is_supervision
from apps.interactions.services.transitions import agent_freed, expect

# The fields call_over may change, for the save of the action that ends or moves a call.
CALL_STATE_FIELDS = ("on_hold", "muted", "hold_started_at", "hold_seconds")

VOICE_ACTIONS = ("hold", "resume", "mute", "unmute")


def hold_close(interaction: Interaction, now: dt.datetime) -> int:
    """End a running hold, adding its length to hold_seconds; returns its length in seconds."""
    if not interaction.on_hold or interaction.hold_started_at is None:
        interaction.on_hold = False
        return 0
    seconds = max(0, round((now - interaction.hold_started_at).total_seconds()))
    interaction.hold_seconds += seconds
    interaction.on_hold = False
    interaction.hold_started_at = None
    return seconds


def participant_event(interaction: Interaction, participant: InteractionParticipant, left: bool) -> None:
    """Tell the participant's own desktop (a conferenced agent's, a supervisor's) and the wallboard."""
    groups = [events.WALLBOARD_GROUP]
    if participant.user_id is not None:
        groups.append(events.agent_group(participant.user_id))
    events.publish(
        groups,
        {
            "kind": "participant",
            "id": participant.pk,
            "interaction": interaction.pk,
            "version": interaction.version,
            "role": participant.role,
            "left": left,
        },
    )


def participant_close(
    held: Held,
    participant: InteractionParticipant,
    now: dt.datetime,
    actor: Actor,
) -> None:
    """The participant is off the call (the caller told the gateway, or hung the call up). A
    conferenced agent gets their slot back and takes waiting work after commit."""
    interaction = held.interaction
    participant.left_at = now
    participant.save(update_fields=["left_at"])
    acd.event_add(
        interaction,
        kind="participant_left",
        from_status=interaction.status,
        at=now,
        actor_id=actor_id(actor),
        data={"participant": participant.pk, "role": participant.role, "agent": participant.agent_id},
    )
    if participant.role == ParticipantRole.CONFERENCE and participant.agent_id is not None:
        agent_freed(held.agents[participant.agent_id], interaction, now)
    participant_event(interaction, participant, left=True)


def call_over(held: Held, now: dt.datetime, actor: Actor, *, hang_up: bool) -> None:
    """A voice or video call ends for its agent (hang-up) or leaves them (transfer): every
    participant leaves and a running hold is closed. With hang_up the gateway hangs the call up
    (which drops every leg); without, each participant's leg is dropped one by one. The caller
    saves CALL_STATE_FIELDS."""
    interaction = held.interaction
    if interaction.channel not in REAL_TIME_CHANNELS:
        return
    gateway = voice.gateway()
    participants = list(interaction.participants.filter(left_at__isnull=True).order_by("pk"))
    if hang_up:
        gateway.hang_up(interaction)
    else:
        for participant in participants:
            gateway.participant_remove(interaction, participant)
    for participant in participants:
        participant_close(held, participant, now, actor)
    hold_close(interaction, now)
    interaction.muted = False


def check_call(interaction: Interaction) -> None:
    if interaction.channel not in REAL_TIME_CHANNELS:
        raise NotAVoiceInteraction(
            f"{interaction.get_channel_display()} interactions have no call to control."
        )
    expect(interaction, (InteractionStatus.ACTIVE,))


def interaction_voice_control(*, actor: Actor, interaction_id: int, action: str) -> Interaction:
    """Hold, resume, mute or unmute the agent's side of an active voice or video call, through
    the voice gateway. Only the agent on the call (or the system, actor None; supervisors
    listen, whisper or barge instead). The interaction keeps the state (on_hold, muted) and the
    hold time (hold_count holds, hold_seconds once each ends). A hold while on hold (a second
    click) is refused. Locks: its agent, then it."""
    if action not in VOICE_ACTIONS:
        raise UnknownAction(f"{action!r} is not a call control ({', '.join(VOICE_ACTIONS)}).")
    now = timezone.now()
    with transaction.atomic():
        agent, interaction = lock_agent_then_interaction(interaction_id)
        if not (is_system(actor) or is_own(actor, agent)):
            raise NotAllowed("Only the agent on the call holds or mutes it.")
        check_call(interaction)
        gateway = voice.gateway()
        data: dict[str, object] = {}
        if action == "hold":
            if interaction.on_hold:
                raise InvalidTransition("The call is already on hold.")
            gateway.hold(interaction)
            interaction.on_hold = True
            interaction.hold_started_at = now
            interaction.hold_count += 1
        elif action == "resume":
            if not interaction.on_hold:
                raise InvalidTransition("The call is not on hold.")
            gateway.resume(interaction)
            data["held_seconds"] = hold_close(interaction, now)
        elif action == "mute":
            if interaction.muted:
                raise InvalidTransition("The call is already muted.")
            gateway.mute(interaction)
            interaction.muted = True
        else:
            if not interaction.muted:
                raise InvalidTransition("The call is not muted.")
            gateway.unmute(interaction)
            interaction.muted = False
        interaction.version += 1
        interaction.save(update_fields=["version", "hold_count", *CALL_STATE_FIELDS])
        acd.event_add(
            interaction,
            kind=action,
            from_status=interaction.status,
            at=now,
            actor_id=actor_id(actor),
            data=data,
        )
        events.interaction_changed(interaction)
    return interaction


def interaction_conference_add(
    *,
    actor: Actor,
    interaction_id: int,
    to_agent_id: int | None = None,
    to_number: str = "",
) -> InteractionParticipant:
    """Add a colleague or an outside number to an active voice or video call (exactly one).
    The call's agent, a supervisor or an admin may. A colleague must be available, off calls and
    have a free slot on the call's channel; while conferenced they hold that slot and show busy
    (routing offers them nothing, as during a call of their own) until they leave or the call
    ends. The number is normalized to E.164. Locks: the agents (the call's, the colleague) in
    primary-key order, then the interaction."""
    number = to_number.strip()
    if (to_agent_id is None) == (not number):
        raise InvalidTarget("Add an agent or a number: give exactly one.")
    if number:
        try:
            number = normalize_phone(number)
        except InvalidContact as exc:
            raise InvalidTarget(f"{to_number!r} is not a phone number.") from exc
    now = timezone.now()
    with transaction.atomic():
        held = lock_agents_then_interaction(interaction_id, also=[to_agent_id] if to_agent_id else [])
        interaction, agent = held.interaction, held.agent
        check_own(actor, agent)
        check_call(interaction)
        on_call = interaction.participants.filter(left_at__isnull=True)
        target: AgentProfile | None = None
        if to_agent_id is not None:
            target = held.agents.get(to_agent_id)
            if target is None:
                raise InvalidTarget(f"Agent #{to_agent_id} does not exist.")
            if target.pk == interaction.agent_id or on_call.filter(user_id=target.user_id).exists():
                raise InvalidTransition(f"{target.user.username} is already on the call.")
            check_available(target, interaction.channel)
        elif on_call.filter(number=number).exists():
            raise InvalidTransition(f"{number} is already on the call.")
        participant = InteractionParticipant.objects.create(
            interaction=interaction,
            agent=target,
            user_id=target.user_id if target is not None else None,
            number=number,
            role=ParticipantRole.CONFERENCE,
            added_by=actor if isinstance(actor, User) else None,
            joined_at=now,
        )
        voice.gateway().conference_add(interaction, participant)
        if target is not None:
            acd.load_change(target, interaction.channel, +1)
            acd.agent_refresh_state(target, now)
            events.agent_changed(target)
        interaction.version += 1
        interaction.save(update_fields=["version"])
        acd.event_add(
            interaction,
            kind="conference_added",
            from_status=interaction.status,
            at=now,
            actor_id=actor_id(actor),
            data={"participant": participant.pk, "agent": to_agent_id, "number": number},
        )
        events.interaction_changed(interaction)
        participant_event(interaction, participant, left=False)
    return participant


def interaction_monitor(*, actor: Actor, interaction_id: int, mode: str) -> InteractionParticipant:
    """A supervisor or admin listens to, whispers to the agent of, or barges into an active
    voice or video call, through the voice gateway. Asking for another mode while on the call
    switches: the current stay ends and one in the new mode starts (each a participant row).
    Monitoring takes no slot of anyone's capacity. Locks: the call's agent, then the call."""
    if mode not in voice.MONITOR_MODES:
        raise UnknownAction(f"{mode!r} is not a monitoring mode ({', '.join(voice.MONITOR_MODES)}).")
    if not isinstance(actor, User) or not has_role(actor, Role.SUPERVISOR, Role.ADMIN):
        raise NotAllowed("Only supervisors and admins listen, whisper or barge.")
    now = timezone.now()
    with transaction.atomic():
        held = lock_agents_then_interaction(interaction_id)
        interaction, agent = held.interaction, held.agent
        check_call(interaction)
        if is_own(actor, agent):
            raise InvalidTarget("This is your own call.")
        current = interaction.participants.filter(left_at__isnull=True, user=actor).first()
        if current is not None and current.role == mode:
            raise InvalidTransition(f"You are already on the call ({mode}).")
        if current is not None and current.role == ParticipantRole.CONFERENCE:
            raise InvalidTransition("You are on the call as a conference participant.")
        if current is not None:
            participant_close(held, current, now, actor)
        participant = InteractionParticipant.objects.create(
            interaction=interaction, user=actor, role=mode, added_by=actor, joined_at=now
        )
        voice.gateway().monitor(interaction, participant, mode)
        interaction.version += 1
        interaction.save(update_fields=["version"])
        acd.event_add(
            interaction,
            kind="monitor",
            from_status=interaction.status,
            at=now,
            actor_id=actor.pk,
            data={
                "participant": participant.pk,
                "mode": mode,
                "previous_mode": current.role if current is not None else None,
            },
        )
        events.interaction_changed(interaction)
        participant_event(interaction, participant, left=False)
    return participant


def interaction_participant_leave(*, actor: Actor, participant_id: int) -> InteractionParticipant:
    """A participant leaves the call: themself, the call's agent, a supervisor or an admin
    may make them. A conferenced agent gets their slot back and takes waiting work after
    commit; the call goes on. Locks: the agents (the call's, the conferenced ones) in
    primary-key order, then the interaction (participants change only under its lock)."""
    interaction_id = (
        InteractionParticipant.objects.filter(pk=participant_id)
        .values_list("interaction_id", flat=True)
        .first()
    )
    if interaction_id is None:
        raise InvalidTarget(f"Participant #{participant_id} does not exist.")
    now = timezone.now()
    with transaction.atomic():
        held = lock_agents_then_interaction(interaction_id)
        interaction = held.interaction
        participant = InteractionParticipant.objects.get(pk=participant_id)
        if not (
            is_supervision(actor)
            or is_own(actor, held.agent)
            or (isinstance(actor, User) and participant.user_id == actor.pk)
        ):
            raise NotAllowed("Only the participant, the call's agent or a supervisor removes a participant.")
        if participant.left_at is not None:
            raise InvalidTransition("This participant already left the call.")
        voice.gateway().participant_remove(interaction, participant)
        interaction.version += 1
        interaction.save(update_fields=["version"])
        participant_close(held, participant, now, actor)
        events.interaction_changed(interaction)
    return participant
