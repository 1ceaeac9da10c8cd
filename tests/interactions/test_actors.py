"""Who the contact center's services act for: a person or a named SystemActor, never nobody.
A call without an actor is refused and changes nothing; system-only and person-only actions
refuse the other kind."""

from __future__ import annotations

from typing import Any

import pytest

from apps.core.actors import SYSTEM, SystemActor
from apps.core.exceptions import NotAllowed
from apps.core.models import AuditEntry
from apps.core.services import audit_record
from apps.interactions import services
from apps.interactions.models import AgentProfile, Interaction, InteractionStatus, Presence
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_presence_change_without_an_actor_is_refused_and_changes_nothing() -> None:
    agent = make_agent(make_queue())

    with pytest.raises(NotAllowed):
        services.agent_set_presence(actor=None, agent_id=agent.pk, presence=Presence.OFFLINE)  # type: ignore[arg-type]

    assert AgentProfile.objects.get(pk=agent.pk).presence == Presence.AVAILABLE


def test_an_arrival_without_an_actor_is_refused_and_writes_nothing() -> None:
    queue = make_queue()

    with pytest.raises(NotAllowed):
        services.interaction_enqueue(actor=None, queue=queue, channel="chat")  # type: ignore[arg-type]

    assert Interaction.objects.count() == 0


def test_only_the_system_or_a_supervisor_records_that_a_customer_left(make_user: Any) -> None:
    queue = make_queue()
    waiting = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
    agent_user = make_user("Agent")

    with pytest.raises(NotAllowed):
        services.interaction_abandon(actor=agent_user, interaction_id=waiting.pk)
    assert Interaction.objects.get(pk=waiting.pk).status == InteractionStatus.QUEUED

    services.interaction_abandon(actor=SystemActor("voice connector"), interaction_id=waiting.pk)
    assert Interaction.objects.get(pk=waiting.pk).status == InteractionStatus.ABANDONED


def test_an_agent_cannot_change_a_colleagues_presence_but_the_system_can(make_user: Any) -> None:
    agent = make_agent(make_queue())
    colleague = make_user("Agent")

    with pytest.raises(NotAllowed):
        services.agent_set_presence(actor=colleague, agent_id=agent.pk, presence=Presence.OFFLINE)
    assert AgentProfile.objects.get(pk=agent.pk).presence == Presence.AVAILABLE

    services.agent_set_presence(actor=SystemActor("presence timeout"), agent_id=agent.pk, presence="offline")
    assert AgentProfile.objects.get(pk=agent.pk).presence == Presence.OFFLINE


def test_monitoring_a_call_needs_a_person() -> None:
    queue = make_queue(channels=["voice"], auto_accept=True)
    make_agent(queue)
    call = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="voice")
    assert Interaction.objects.get(pk=call.pk).status == InteractionStatus.ACTIVE

    with pytest.raises(NotAllowed):
        services.interaction_monitor(actor=SYSTEM, interaction_id=call.pk, mode="listen")

    assert call.participants.count() == 0


def test_the_audit_log_names_the_system_actor_and_keeps_people_in_the_actor_column() -> None:
    entry = audit_record(
        actor=SystemActor("import worker"), action="test.system", object_type="x", object_id=1
    )

    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.actor_id, stored.data) == (None, {"system": "import worker"})
