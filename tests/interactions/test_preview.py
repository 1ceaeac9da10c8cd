"""Preview dialing: a previewed call is offered by the ACD like any work, the agent accepts it and
sees who they will call, then dials (the gateway places the call for them) or skips it with a
reason; a dial check registered by a higher app can veto the dial."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.core.actors import SYSTEM, SystemActor
from apps.core.exceptions import NotAllowed
from apps.interactions import services
from apps.interactions.desk_sections import DeskSection, register_section
from apps.interactions.exceptions import ContactRefused, InvalidTransition
from apps.interactions.models import (
    AgentCapacity,
    AgentProfile,
    AgentState,
    CallOutcome,
    Interaction,
    InteractionStatus,
    Queue,
)
from apps.interactions.services.outbound import DIAL_TIMEOUT
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db(transaction=True)

CONNECTOR = SystemActor("voice connector")
NUMBER = "+14155550123"


def _preview(queue: Queue) -> Interaction:
    return services.interaction_enqueue(
        actor=SYSTEM, queue=queue, channel="voice", direction="outbound", contact=NUMBER, subject="Preview"
    )


def _accepted(queue: Queue, agent: AgentProfile) -> Interaction:
    offered = _preview(queue)
    assert (offered.status, offered.agent_id) == (InteractionStatus.OFFERED, agent.pk)
    return services.interaction_accept(actor=agent.user, interaction_id=offered.pk)


def _load(agent: AgentProfile) -> int:
    return AgentCapacity.objects.get(agent=agent, channel="voice").load


def test_an_accepted_preview_waits_for_the_agent_to_dial() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)

    preview = _accepted(queue, agent)

    assert services.awaits_dial(preview)
    assert not preview.call_outcome and _load(agent) == 1


def test_dialling_a_preview_places_the_call_for_its_agent_and_the_answer_connects_them() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    preview = _accepted(queue, agent)

    call = services.interaction_preview_dial(actor=agent.user, interaction_id=preview.pk)

    assert (call.status, call.agent_id) == (InteractionStatus.DIALING, agent.pk)
    assert call.dialed_at is not None
    assert call.events.filter(kind="voice_gateway", data__command="originate").count() == 1
    answered = services.interaction_call_progress(actor=CONNECTOR, interaction_id=call.pk, outcome="answered")
    assert (answered.status, answered.call_outcome, answered.agent_id) == (
        InteractionStatus.ACTIVE,
        CallOutcome.ANSWERED,
        agent.pk,
    )
    assert not services.awaits_dial(answered) and _load(agent) == 1


def test_a_busy_line_after_a_preview_frees_the_agent() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    preview = _accepted(queue, agent)
    services.interaction_preview_dial(actor=agent.user, interaction_id=preview.pk)

    services.interaction_call_progress(actor=CONNECTOR, interaction_id=preview.pk, outcome="busy")

    assert Interaction.objects.get(pk=preview.pk).status == InteractionStatus.CLOSED
    assert _load(agent) == 0 and AgentProfile.objects.get(pk=agent.pk).state == AgentState.AVAILABLE


def test_the_dial_timer_counts_from_the_dial_not_from_the_offer() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    preview = _accepted(queue, agent)
    Interaction.objects.filter(pk=preview.pk).update(created_at=timezone.now() - 2 * DIAL_TIMEOUT)
    services.interaction_preview_dial(actor=agent.user, interaction_id=preview.pk)

    assert services.dials_expire_due() == 0
    assert services.dials_expire_due(now=timezone.now() + DIAL_TIMEOUT + dt.timedelta(seconds=1)) == 1


def test_skipping_a_preview_closes_it_with_the_reason_and_frees_the_agent() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    preview = _accepted(queue, agent)

    skipped = services.interaction_preview_skip(
        actor=agent.user, interaction_id=preview.pk, reason="  said  not at work "
    )

    assert (skipped.status, skipped.disposition.code) == (InteractionStatus.CLOSED, "preview-skipped")  # type: ignore[union-attr]
    assert skipped.events.get(kind="preview_skipped").data == {"reason": "said not at work"}
    assert _load(agent) == 0
    assert not skipped.events.filter(kind="voice_gateway").exists()


def test_a_skip_needs_a_reason_and_nothing_changes_without_one() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    preview = _accepted(queue, agent)

    with pytest.raises(InvalidTransition, match="reason"):
        services.interaction_preview_skip(actor=agent.user, interaction_id=preview.pk, reason="   ")

    assert Interaction.objects.get(pk=preview.pk).status == InteractionStatus.ACTIVE


def test_only_its_own_agent_dials_a_preview_and_only_once() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    other = make_agent(queue)
    preview = _accepted(queue, agent)

    with pytest.raises(NotAllowed):
        services.interaction_preview_dial(actor=other.user, interaction_id=preview.pk)
    services.interaction_preview_dial(actor=agent.user, interaction_id=preview.pk)
    with pytest.raises(InvalidTransition):
        services.interaction_preview_dial(actor=agent.user, interaction_id=preview.pk)

    assert Interaction.objects.get(pk=preview.pk).events.filter(kind="dialing").count() == 1


@pytest.fixture
def refusing_check() -> Iterator[None]:
    def check(interaction: Interaction) -> None:
        raise ContactRefused(f"{interaction.contact} is outside its calling window.")

    services.register_dial_check("test-window", check)
    yield
    services.register_dial_check("test-window", None)


@pytest.mark.usefixtures("refusing_check")
def test_a_registered_dial_check_vetoes_the_dial_and_nothing_is_placed() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    preview = _accepted(queue, agent)

    with pytest.raises(ContactRefused, match="calling window"):
        services.interaction_preview_dial(actor=agent.user, interaction_id=preview.pk)

    preview.refresh_from_db()
    assert preview.status == InteractionStatus.ACTIVE and preview.dialed_at is None
    assert not preview.events.filter(kind="voice_gateway").exists()


@pytest.fixture
def lead_section() -> Iterator[None]:
    register_section(
        "test-lead",
        lambda interaction, viewer: DeskSection("Lead", [("Plan", "<b>gold</b>")], note="Renewal"),
    )
    yield
    register_section("test-lead", None)


@pytest.mark.usefixtures("lead_section")
def test_the_desk_shows_dial_and_skip_and_the_sections_of_higher_apps_escaped() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    preview = _accepted(queue, agent)
    client = Client()
    client.force_login(agent.user)

    page = client.get(reverse("interactions:desk-interaction", args=[preview.pk])).content.decode()

    assert f"Dial {NUMBER}" in page and "Skip because" in page and "Hang up" not in page
    assert "&lt;b&gt;gold&lt;/b&gt;" in page and "Renewal" in page


def test_the_desk_dials_and_a_skip_without_a_reason_is_a_400() -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    preview = _accepted(queue, agent)
    client = Client()
    client.force_login(agent.user)

    refused = client.post(reverse("interactions:desk-act", args=[preview.pk, "skip"]), {"reason": ""})
    dialled = client.post(reverse("interactions:desk-act", args=[preview.pk, "dial"]))

    assert refused.status_code == 400
    assert dialled.status_code in (200, 204)
    assert Interaction.objects.get(pk=preview.pk).status == InteractionStatus.DIALING


def test_a_waiting_preview_is_withdrawn_by_the_system_only_and_an_offered_one_is_left() -> None:
    queue = make_queue(channels=["voice"])
    waiting = _preview(queue)  # nobody to offer it to
    assert waiting.status == InteractionStatus.QUEUED
    agent = make_agent(make_queue(channels=["voice"]))

    with pytest.raises(NotAllowed):
        services.interaction_preview_withdraw(actor=agent.user, interaction_id=waiting.pk, reason="paused")
    assert services.interaction_preview_withdraw(
        actor=SYSTEM, interaction_id=waiting.pk, reason="campaign paused"
    )

    waiting.refresh_from_db()
    assert waiting.status == InteractionStatus.CLOSED and waiting.disposition is not None
    assert waiting.events.get(kind="preview_withdrawn").data == {"reason": "campaign paused"}
    offered_queue = make_queue(channels=["voice"])
    offered_agent = make_agent(offered_queue)
    offered = _preview(offered_queue)
    assert offered.agent_id == offered_agent.pk
    assert not services.interaction_preview_withdraw(actor=SYSTEM, interaction_id=offered.pk, reason="paused")
    offered.refresh_from_db()
    assert offered.status == InteractionStatus.OFFERED
