"""The agent desktop and the supervisor wallboard as pages: what each role sees, what each
action does (and that a refused one changes nothing), the screen pop and its timeline, and query
counts that do not grow with the rows."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.core.actors import SYSTEM
from apps.customers.models import Customer
from apps.customers.services.customers import ContactInput, contact_point_set_consent, customer_create
from apps.interactions import services
from apps.interactions.models import (
    AgentProfile,
    AgentState,
    Disposition,
    DispositionCategory,
    DispositionSet,
    Interaction,
    InteractionStatus,
    NotReadyReason,
    Presence,
    Queue,
)
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db(transaction=True)


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


_phones = iter(range(100, 10_000))


def _customer(name: str = "Ada") -> Customer:
    phone = f"+1415555{next(_phones):04d}"
    return customer_create(
        actor=SYSTEM,
        first_name=name,
        last_name="Lovelace",
        contacts=[ContactInput(kind="phone", value=phone)],
    )


def _offered(queue: Queue, agent: AgentProfile, channel: str = "chat", **fields: Any) -> Interaction:
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel=channel, **fields)
    interaction.refresh_from_db()
    assert (interaction.status, interaction.agent_id) == (InteractionStatus.OFFERED, agent.pk)
    return interaction


def _trigger(response: Any) -> dict[str, Any]:
    return json.loads(response["HX-Trigger"])


# -- agent desktop ---------------------------------------------------------------------------------


def test_desk_shows_the_agents_state_offers_and_own_customers(make_user: Callable[..., User]) -> None:
    queue = make_queue(channels=["chat"])
    agent = make_agent(queue)
    customer_create(actor=agent.user, first_name="Mine", last_name="Customer", owner=agent.user)
    customer_create(actor=agent.user, first_name="Theirs", last_name="Customer", owner=make_user("Agent"))
    _offered(queue, agent, customer=_customer("Grace"), subject="Order 42")

    page = _client(agent.user).get("/desk/").content.decode()

    assert 'id="my-state">Offered' in page
    assert "New offer" in page and "Grace Lovelace" in page and "Order 42" in page
    assert "Mine Customer" in page and "Theirs Customer" not in page


def test_agent_changes_state_from_the_selector_and_not_ready_needs_a_real_reason() -> None:
    agent = make_agent(make_queue(), available=False)
    NotReadyReason.objects.create(code="lunch", label="Lunch")
    client = _client(agent.user)

    assert client.post("/desk/presence/", {"choice": "available"}).status_code == 204
    agent.refresh_from_db()
    assert agent.presence == Presence.AVAILABLE

    refused = client.post("/desk/presence/", {"choice": "not_ready:nap"})
    agent.refresh_from_db()
    assert refused.status_code == 400
    assert "not-ready reason" in refused.content.decode()
    assert agent.presence == Presence.AVAILABLE

    assert client.post("/desk/presence/", {"choice": "not_ready:lunch"}).status_code == 204
    agent.refresh_from_db()
    assert (agent.presence, agent.not_ready_reason.code if agent.not_ready_reason else None) == (
        Presence.NOT_READY,
        "lunch",
    )


def test_agent_accepts_replies_ends_and_wraps_up_from_the_desk() -> None:
    dispositions = DispositionSet.objects.create(name="Support")
    resolved = Disposition.objects.create(
        code="resolved", label="Resolved", category=DispositionCategory.RESOLVED
    )
    dispositions.dispositions.add(resolved)
    queue = make_queue(channels=["chat"], disposition_set=dispositions, disposition_required=True)
    agent = make_agent(queue)
    customer = _customer()
    interaction = _offered(queue, agent, customer=customer)
    client = _client(agent.user)

    accepted = client.post(f"/desk/interactions/{interaction.pk}/accept/")
    assert accepted.status_code == 204
    assert _trigger(accepted) == {"desk:changed": {"id": interaction.pk}}

    reply = client.post(f"/desk/interactions/{interaction.pk}/reply/", {"body": "Hello Ada, how can I help?"})
    assert reply.status_code == 200
    assert "Hello Ada, how can I help?" in reply.content.decode()

    assert client.post(f"/desk/interactions/{interaction.pk}/end/").status_code == 204
    panel = client.get(f"/desk/interactions/{interaction.pk}/").content.decode()
    assert "Finish wrap-up" in panel and "Resolved" in panel

    missing = client.post(f"/desk/interactions/{interaction.pk}/wrap-up/", {"notes": "asked about billing"})
    interaction.refresh_from_db()
    assert missing.status_code == 400
    assert "Choose a disposition" in missing.content.decode()
    assert interaction.status == InteractionStatus.WRAP_UP

    done = client.post(
        f"/desk/interactions/{interaction.pk}/wrap-up/",
        {"disposition": resolved.pk, "notes": "billing question"},
    )
    interaction.refresh_from_db()
    agent.refresh_from_db()
    assert done.status_code == 204
    assert (interaction.status, interaction.disposition_id, interaction.notes) == (
        InteractionStatus.CLOSED,
        resolved.pk,
        "billing question",
    )
    assert agent.state == AgentState.AVAILABLE


def test_wrap_up_refuses_a_disposition_outside_the_queues_set() -> None:
    allowed = Disposition.objects.create(code="sale", label="Sale", category=DispositionCategory.SALE)
    other = Disposition.objects.create(code="other", label="Other", category=DispositionCategory.OTHER)
    dispositions = DispositionSet.objects.create(name="Sales")
    dispositions.dispositions.add(allowed)
    queue = make_queue(channels=["chat"], disposition_set=dispositions)
    agent = make_agent(queue)
    interaction = _offered(queue, agent)
    client = _client(agent.user)
    client.post(f"/desk/interactions/{interaction.pk}/accept/")
    client.post(f"/desk/interactions/{interaction.pk}/end/")

    refused = client.post(f"/desk/interactions/{interaction.pk}/wrap-up/", {"disposition": other.pk})

    interaction.refresh_from_db()
    assert refused.status_code == 400
    assert "disposition" in refused.content.decode()
    assert interaction.status == InteractionStatus.WRAP_UP


def test_screen_pop_shows_the_customer_contact_points_and_the_timeline_with_interactions() -> None:
    queue = make_queue(channels=["chat", "voice"])
    agent = make_agent(queue, capacity={"chat": 1, "voice": 1})
    customer = _customer()
    contact_point_set_consent(
        actor=SYSTEM,
        contact_point=customer.contact_points.get(),
        consent="do_not_call",
        value=True,
        source="test",
    )
    earlier = services.interaction_enqueue(
        actor=SYSTEM, queue=queue, channel="chat", customer=customer, subject="Earlier chat"
    )
    services.interaction_abandon(actor=SYSTEM, interaction_id=earlier.pk)
    interaction = _offered(queue, agent, channel="voice", customer=customer)

    panel = _client(agent.user).get(f"/desk/interactions/{interaction.pk}/").content.decode()

    assert "Ada Lovelace" in panel
    assert customer.contact_points.get().value in panel and "DNC" in panel
    assert "Live chat (inbound) · " + queue.name + " · abandoned" in panel
    assert "Earlier chat" in panel


def test_agents_cannot_open_or_act_on_another_agents_interaction() -> None:
    queue = make_queue(channels=["chat"])
    other_queue = make_queue(channels=["chat"])
    owner = make_agent(queue)
    outsider = make_agent(other_queue)
    interaction = _offered(queue, owner)
    client = _client(outsider.user)

    assert client.get(f"/desk/interactions/{interaction.pk}/").status_code == 404
    assert client.post(f"/desk/interactions/{interaction.pk}/accept/").status_code == 404
    assert client.post(f"/desk/interactions/{interaction.pk}/reply/", {"body": "hi"}).status_code == 404

    interaction.refresh_from_db()
    assert (interaction.status, interaction.agent_id) == (InteractionStatus.OFFERED, owner.pk)
    assert interaction.messages.count() == 0


def test_a_colleague_in_the_same_queue_sees_the_history_but_cannot_accept_the_offer() -> None:
    queue = make_queue(channels=["chat"])
    owner = make_agent(queue)
    colleague = make_agent(queue, capacity={"chat": 1})
    interaction = _offered(queue, owner)
    client = _client(colleague.user)

    assert client.get(f"/desk/interactions/{interaction.pk}/").status_code == 200
    refused = client.post(f"/desk/interactions/{interaction.pk}/accept/")

    interaction.refresh_from_db()
    assert refused.status_code == 403
    assert (interaction.status, interaction.agent_id) == (InteractionStatus.OFFERED, owner.pk)


def test_an_action_on_a_stale_page_answers_a_conflict_and_changes_nothing() -> None:
    queue = make_queue(channels=["chat"])
    agent = make_agent(queue)
    interaction = _offered(queue, agent)
    client = _client(agent.user)
    client.post(f"/desk/interactions/{interaction.pk}/accept/")

    second = client.post(f"/desk/interactions/{interaction.pk}/reject/")

    interaction.refresh_from_db()
    assert second.status_code == 409
    assert interaction.status == InteractionStatus.ACTIVE


def test_desk_fragments_keep_a_fixed_number_of_queries(django_assert_max_num_queries: Any) -> None:
    queue = make_queue(channels=["chat", "email"])
    agent = make_agent(queue, capacity={"chat": 5, "email": 5})
    for n in range(6):
        services.interaction_enqueue(
            actor=SYSTEM, queue=queue, channel="chat" if n % 2 else "email", customer=_customer(f"C{n}")
        )
    assert Interaction.objects.filter(agent=agent).count() == 6
    client = _client(agent.user)

    with django_assert_max_num_queries(12):
        assert client.get("/desk/work/").status_code == 200
    with django_assert_max_num_queries(16):
        assert client.get("/desk/").status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get("/desk/history/").status_code == 200


def test_interaction_panel_keeps_a_fixed_number_of_queries(django_assert_max_num_queries: Any) -> None:
    queue = make_queue(channels=["chat"])
    agent = make_agent(queue)
    customer = _customer()
    interaction = _offered(queue, agent, customer=customer)
    services.interaction_accept(actor=agent.user, interaction_id=interaction.pk)
    for n in range(10):
        services.message_add(actor=agent.user, interaction_id=interaction.pk, body=f"message {n}")

    client = _client(agent.user)

    with django_assert_max_num_queries(16):
        page = client.get(f"/desk/interactions/{interaction.pk}/")
    assert page.content.decode().count('class="msg msg-') == 10


# -- wallboard -------------------------------------------------------------------------------------


def test_wallboard_shows_queues_agents_and_who_is_waiting(make_user: Callable[..., User]) -> None:
    support = make_queue("Support", channels=["chat"])
    make_queue("Sales", channels=["voice"])
    agent = make_agent(support, capacity={"chat": 1})
    _offered(support, agent, customer=_customer("Grace"))
    services.interaction_enqueue(actor=SYSTEM, queue=support, channel="chat", customer=_customer("Linus"))

    page = _client(make_user("Supervisor")).get("/wallboard/").content.decode()

    assert "Support" in page and "Sales" in page
    assert f'data-queue-waiting="{support.pk}">1<' in page
    assert agent.user.username in page and "Grace Lovelace" in page
    assert "Linus Lovelace" in page


def test_wallboard_board_keeps_a_fixed_number_of_queries(
    make_user: Callable[..., User], django_assert_max_num_queries: Any
) -> None:
    supervisor = _client(make_user("Supervisor"))
    queues = [make_queue(channels=["chat"]) for _ in range(2)]
    for queue in queues:
        make_agent(queue, capacity={"chat": 1})
    services.interaction_enqueue(
        actor=SYSTEM, queue=queues[0], channel="chat", customer=_customer()
    )  # one on an agent
    with django_assert_max_num_queries(14) as few:
        supervisor.get("/wallboard/board/")
    for queue in queues * 3:
        make_agent(queue, capacity={"chat": 1})
        services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat", customer=_customer())
    make_queue(channels=["chat"])

    with django_assert_max_num_queries(len(few.captured_queries)):
        assert supervisor.get("/wallboard/board/").status_code == 200


def test_supervisor_sets_an_agents_state_from_the_wallboard_and_agents_cannot(
    make_user: Callable[..., User],
) -> None:
    agent = make_agent(make_queue())
    NotReadyReason.objects.create(code="training", label="Training")
    other = make_agent(make_queue())

    denied = _client(other.user).post(f"/wallboard/agents/{agent.pk}/presence/", {"choice": "offline"})
    agent.refresh_from_db()
    assert denied.status_code == 403
    assert agent.presence == Presence.AVAILABLE

    done = _client(make_user("Supervisor")).post(
        f"/wallboard/agents/{agent.pk}/presence/", {"choice": "not_ready:training"}
    )
    agent.refresh_from_db()
    assert done.status_code == 204
    assert (agent.presence, agent.state) == (Presence.NOT_READY, AgentState.NOT_READY)


def test_customer_page_timeline_lists_interactions(make_user: Callable[..., User]) -> None:
    queue = make_queue("Billing", channels=["email"])
    customer = _customer()
    services.interaction_enqueue(
        actor=SYSTEM, queue=queue, channel="email", customer=customer, subject="Invoice copy"
    )

    # An agent of the queue reads it in full (tests/customers/test_timeline_roles.py: the others)
    page = _client(make_agent(queue, available=False).user).get(f"/customers/{customer.pk}/").content.decode()

    assert "Email (inbound) · Billing · queued" in page
    assert "Invoice copy" in page


# -- transfers, call control, monitoring -----------------------------------------------------------


def test_agent_transfers_an_active_chat_to_another_queue_from_the_desk() -> None:
    support = make_queue("Support", channels=["chat"])
    billing = make_queue("Billing", channels=["chat"])
    agent = make_agent(support)
    billing_agent = make_agent(billing)
    interaction = _offered(support, agent)
    client = _client(agent.user)
    client.post(f"/desk/interactions/{interaction.pk}/accept/")

    refused = client.post(f"/desk/interactions/{interaction.pk}/transfer/", {"target": "nowhere"})
    interaction.refresh_from_db()
    assert refused.status_code == 400
    assert (interaction.status, interaction.agent_id) == (InteractionStatus.ACTIVE, agent.pk)

    moved = client.post(
        f"/desk/interactions/{interaction.pk}/transfer/", {"target": f"queue:{billing.pk}", "note": "billing"}
    )
    interaction.refresh_from_db()
    assert moved.status_code == 204
    assert (interaction.queue_id, interaction.agent_id, interaction.status) == (
        billing.pk,
        billing_agent.pk,
        InteractionStatus.OFFERED,
    )


def test_agent_holds_and_mutes_a_call_and_a_chat_has_no_call_controls() -> None:
    queue = make_queue(channels=["voice", "chat"])
    agent = make_agent(queue, capacity={"voice": 1, "chat": 1})
    call = _offered(queue, agent, channel="voice")
    client = _client(agent.user)
    client.post(f"/desk/interactions/{call.pk}/accept/")

    assert client.post(f"/desk/interactions/{call.pk}/voice/hold/").status_code == 204
    assert client.post(f"/desk/interactions/{call.pk}/voice/mute/").status_code == 204
    call.refresh_from_db()
    assert (call.on_hold, call.muted) == (True, True)
    panel = client.get(f"/desk/interactions/{call.pk}/").content.decode()
    assert "Resume" in panel and "Unmute" in panel
    assert client.post(f"/desk/interactions/{call.pk}/voice/dance/").status_code == 404


def test_supervisor_listens_to_a_call_from_the_wallboard_and_leaves(make_user: Callable[..., User]) -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue, capacity={"voice": 1})
    call = _offered(queue, agent, channel="voice")
    services.interaction_accept(actor=agent.user, interaction_id=call.pk)
    supervisor = make_user("Supervisor")
    client = _client(supervisor)

    assert _client(agent.user).post(f"/wallboard/interactions/{call.pk}/monitor/listen/").status_code == 403
    assert call.participants.count() == 0

    assert client.post(f"/wallboard/interactions/{call.pk}/monitor/listen/").status_code == 204
    participant = call.participants.get()
    assert (participant.role, participant.user_id, participant.left_at) == ("listen", supervisor.pk, None)
    assert "Leave" in client.get("/wallboard/board/").content.decode()

    assert client.post(f"/participants/{participant.pk}/leave/").status_code == 204
    participant.refresh_from_db()
    assert participant.left_at is not None


def test_supervisor_reassigns_a_waiting_interaction_to_an_available_agent(
    make_user: Callable[..., User],
) -> None:
    queue = make_queue(channels=["email"])
    busy = make_agent(queue, capacity={"email": 1})
    _offered(queue, busy, channel="email")
    waiting = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="email", customer=_customer())
    free = make_agent(make_queue(channels=["email"]), capacity={"email": 1}, available=False)
    services.agent_set_presence(actor=SYSTEM, agent_id=free.pk, presence=Presence.AVAILABLE)
    waiting.refresh_from_db()
    assert waiting.status == InteractionStatus.QUEUED

    moved = _client(make_user("Supervisor")).post(
        f"/wallboard/interactions/{waiting.pk}/transfer/", {"target": f"agent:{free.pk}"}
    )

    waiting.refresh_from_db()
    assert moved.status_code == 204, moved.content
    assert (waiting.status, waiting.agent_id) == (InteractionStatus.OFFERED, free.pk)


def test_signing_out_takes_the_agent_offline() -> None:
    agent = make_agent(make_queue())
    client = _client(agent.user)
    client.get("/desk/")
    agent.refresh_from_db()
    assert agent.presence == Presence.AVAILABLE

    client.post("/logout/")

    agent.refresh_from_db()
    assert (agent.presence, agent.state) == (Presence.OFFLINE, AgentState.OFFLINE)
