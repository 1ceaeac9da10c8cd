"""Preview dialing: the agent sees who they are about to call before the call is placed.

A previewed call starts as an outbound voice interaction waiting in its queue (created with
`interaction_enqueue(direction="outbound")`), so the ACD offers it to a free agent like any
other work: skills, capacity, state, offer timers, events and the wallboard all apply. Once the
agent accepts it, it is active but no call exists yet (`awaits_dial`): the desk shows the
customer and the lead, and the agent either dials (the interaction moves to "dialing" and the
voice gateway places the call; its progress then runs as for any reserved-agent call, see
services.outbound) or skips it with a reason (it closes with the "Skipped in preview"
disposition, which a campaign's retry rules may name).

Higher apps (the campaigns' compliance gate) veto a dial through `register_dial_check`: each
check is called with the interaction before the dial's transaction (so the record a check keeps
of a refusal survives it), refuses by raising ContactRefused, and may record the dial it allows
(idempotently: an agent may press Dial again after a gateway error). The interactions app never
imports them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from apps.core.actors import Actor, require_actor, require_person
from apps.core.exceptions import NotAllowed
from apps.interactions import acd, events, voice
from apps.interactions.exceptions import InvalidTransition
from apps.interactions.models import (
    AgentProfile,
    Channel,
    Direction,
    Disposition,
    DispositionCategory,
    Interaction,
    InteractionStatus,
)
from apps.interactions.services.locking import lock_agent_then_interaction
from apps.interactions.services.outbound import outbound_consent_check
from apps.interactions.services.policy import actor_id, check_own, is_supervision
from apps.interactions.services.transitions import agent_freed

DialCheck = Callable[[Interaction], None]
_DIAL_CHECKS: dict[str, DialCheck] = {}

SKIPPED_CODE = "preview-skipped"
WITHDRAWN_CODE = "preview-withdrawn"
SKIP_REASON_MAX = 200


def register_dial_check(name: str, check: DialCheck | None) -> None:
    """Add (or, with None, remove) a check every preview dial passes, under a unique name."""
    if check is None:
        _DIAL_CHECKS.pop(name, None)
    else:
        _DIAL_CHECKS[name] = check


def awaits_dial(interaction: Interaction) -> bool:
    """An accepted preview: an outbound voice interaction with its agent and no call placed yet
    (a placed call always has an outcome once it is active: answered)."""
    return (
        interaction.direction == Direction.OUTBOUND
        and interaction.channel == Channel.VOICE
        and interaction.status == InteractionStatus.ACTIVE
        and not interaction.call_outcome
    )


def _locked_preview(actor: Actor, interaction_id: int) -> tuple[AgentProfile, Interaction]:
    agent, interaction = lock_agent_then_interaction(interaction_id)
    check_own(actor, agent)
    if agent is None or not awaits_dial(interaction):
        raise InvalidTransition(
            f"Interaction #{interaction.pk} is not a previewed call waiting to be dialled."
        )
    return agent, interaction


def interaction_preview_dial(*, actor: Actor, interaction_id: int) -> Interaction:
    """The agent dials their accepted preview: consent and every registered dial check are
    asked first (ContactRefused: no call is placed, the agent can skip), then the call is
    placed through the voice gateway inside the transaction (VoiceGatewayError rolls back).
    The agent keeps the slot the preview held. Locks: the agent, then the interaction."""
    require_person(actor)
    with transaction.atomic():
        _, interaction = _locked_preview(actor, interaction_id)
    outbound_consent_check(channel=Channel.VOICE, contact=interaction.contact, customer=interaction.customer)
    for check in list(_DIAL_CHECKS.values()):
        check(interaction)
    now = timezone.now()
    with transaction.atomic():
        agent, interaction = _locked_preview(actor, interaction_id)  # nobody dialled it meanwhile
        before = interaction.status
        interaction.status = InteractionStatus.DIALING
        interaction.dialed_at = now
        interaction.version += 1
        interaction.save(update_fields=["status", "dialed_at", "version"])
        acd.event_add(
            interaction,
            kind="dialing",
            from_status=before,
            at=now,
            actor_id=actor_id(actor),
            data={"to_number": interaction.contact, "caller_id": interaction.caller_id, "preview": True},
        )
        voice.gateway().originate(interaction, to_number=interaction.contact, caller_id=interaction.caller_id)
        acd.agent_refresh_state(agent, now)
        events.agent_changed(agent)
        events.interaction_changed(interaction)
    return interaction


def skipped_disposition() -> Disposition:
    disposition, _ = Disposition.objects.get_or_create(
        code=SKIPPED_CODE,
        defaults={"label": "Skipped in preview", "category": DispositionCategory.OTHER, "is_final": False},
    )
    return disposition


def _close_undialled(
    interaction: Interaction, disposition: Disposition, kind: str, reason: str, actor: Actor, now: dt.datetime
) -> None:
    """Close a preview that was never dialled, with its disposition and the reason in an event
    row of `kind` (the row that announces it closed). The caller holds its lock."""
    before = interaction.status
    interaction.status = InteractionStatus.CLOSED
    interaction.closed_at = now
    interaction.disposition = disposition
    interaction.version += 1
    interaction.save(update_fields=["status", "closed_at", "disposition", "version"])
    acd.event_add(
        interaction, kind=kind, from_status=before, at=now, actor_id=actor_id(actor), data={"reason": reason}
    )


def interaction_preview_skip(*, actor: Actor, interaction_id: int, reason: str) -> Interaction:
    """The agent does not dial their accepted preview: it closes at once with the "Skipped in
    preview" disposition and the reason (required) in its event row, and the agent is free for
    the next one. Locks: the agent, then the interaction."""
    require_person(actor)
    reason = " ".join(reason.split())[:SKIP_REASON_MAX]
    if not reason:
        raise InvalidTransition("reason: say why this call is skipped.")
    now = timezone.now()
    with transaction.atomic():
        agent, interaction = _locked_preview(actor, interaction_id)
        _close_undialled(interaction, skipped_disposition(), "preview_skipped", reason, actor, now)
        agent_freed(agent, interaction, now)
        events.interaction_changed(interaction)
    return interaction


def withdrawn_disposition() -> Disposition:
    disposition, _ = Disposition.objects.get_or_create(
        code=WITHDRAWN_CODE,
        defaults={
            "label": "Withdrawn before an agent took it",
            "category": DispositionCategory.OTHER,
            "is_final": False,
        },
    )
    return disposition


def interaction_preview_withdraw(*, actor: Actor, interaction_id: int, reason: str) -> bool:
    """Take back a preview still waiting in its queue (no agent offered it yet): it closes with
    the "Withdrawn" disposition and the reason in its event row (the campaign it came from was
    paused). A preview already offered or accepted is left alone (its dial is checked then).
    The system or a supervisor only. Returns whether it was withdrawn. Locks: the interaction."""
    require_actor(actor)
    if not is_supervision(actor):
        raise NotAllowed("Only the system or a supervisor withdraws a preview.")
    reason = " ".join(reason.split())[:SKIP_REASON_MAX]
    now = timezone.now()
    with transaction.atomic():
        interaction = Interaction.objects.select_for_update().get(pk=interaction_id)
        if (
            interaction.direction != Direction.OUTBOUND
            or interaction.channel != Channel.VOICE
            or interaction.status != InteractionStatus.QUEUED
            or interaction.call_outcome
        ):
            return False
        _close_undialled(interaction, withdrawn_disposition(), "preview_withdrawn", reason, actor, now)
        events.interaction_changed(interaction)
    return True
