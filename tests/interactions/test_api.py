"""REST API of the contact center: create = enqueue and route, the agent's actions and
messages, queues with live stats, agents and their state, dispositions; who sees what, and
query counts that do not grow with the rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.actors import SYSTEM
from apps.interactions.models import (
    AgentState,
    Disposition,
    DispositionCategory,
    Interaction,
    InteractionParticipant,
    InteractionStatus,
    Message,
    NotReadyReason,
)
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db(transaction=True)

API = "/api/v1"


def _client(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_supervisor_creates_an_interaction_that_is_offered_at_once_and_the_agent_works_it(
    make_user: Any,
) -> None:
    queue = make_queue(channels=["chat"])
    agent = make_agent(queue)
    Disposition.objects.create(code="resolved", label="Resolved", category=DispositionCategory.RESOLVED)
    supervisor = _client(make_user("Supervisor"))
    me = _client(agent.user)

    created = supervisor.post(
        f"{API}/interactions/", {"queue": queue.pk, "channel": "chat", "subject": "Order"}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["status"], body["agent"], body["agent_username"]) == (
        "offered",
        agent.pk,
        agent.user.username,
    )
    pk = body["id"]

    assert me.post(f"{API}/interactions/{pk}/accept/").json()["status"] == "active"
    reply = me.post(f"{API}/interactions/{pk}/messages/", {"body": "Hello, how can I help?"})
    assert reply.status_code == 201, reply.content
    assert me.get(f"{API}/interactions/{pk}/messages/").json()[0]["body"] == "Hello, how can I help?"
    assert me.post(f"{API}/interactions/{pk}/end/").json()["status"] == "wrap_up"
    refused = me.post(f"{API}/interactions/{pk}/wrap-up/", {})
    assert (refused.status_code, refused.json()["code"]) == (400, "disposition_required")
    done = me.post(
        f"{API}/interactions/{pk}/wrap-up/", {"disposition": "resolved", "notes": "Sent the invoice"}
    )
    assert (done.json()["status"], done.json()["disposition"]) == ("closed", "resolved")
    agent.refresh_from_db()
    assert agent.state == AgentState.AVAILABLE


def test_agents_see_only_their_own_and_their_queues_interactions(make_user: Any) -> None:
    mine_queue = make_queue(channels=["chat"])
    other_queue = make_queue(channels=["chat"])
    agent = make_agent(mine_queue, available=False)
    theirs = Interaction.objects.create(queue=other_queue, channel="chat")
    history = Interaction.objects.create(queue=mine_queue, channel="chat", status=InteractionStatus.CLOSED)
    me = _client(agent.user)

    listed = [row["id"] for row in me.get(f"{API}/interactions/").json()["results"]]

    assert listed == [history.pk]
    assert me.get(f"{API}/interactions/{theirs.pk}/").status_code == 404
    assert me.post(f"{API}/interactions/{theirs.pk}/accept/").status_code == 404
    assert _client(make_user("Supervisor")).get(f"{API}/interactions/{theirs.pk}/").status_code == 200


def test_an_agent_cannot_act_on_a_colleagues_offer_and_nothing_changes(make_user: Any) -> None:
    queue = make_queue(channels=["chat"])
    first = make_agent(queue)
    second = make_agent(queue, available=False)
    interaction = _client(make_user("Admin")).post(
        f"{API}/interactions/", {"queue": queue.pk, "channel": "chat"}
    )
    pk = interaction.json()["id"]

    response = _client(second.user).post(f"{API}/interactions/{pk}/accept/")

    assert response.status_code == 403
    refreshed = Interaction.objects.get(pk=pk)
    assert (refreshed.status, refreshed.agent_id) == ("offered", first.pk)


def test_create_is_refused_to_agents_and_marketers_and_writes_nothing(make_user: Any) -> None:
    queue = make_queue(channels=["chat"])
    for role in ("Agent", "Marketer"):
        response = _client(make_user(role)).post(
            f"{API}/interactions/", {"queue": queue.pk, "channel": "chat"}
        )
        assert response.status_code == 403
    assert APIClient().post(f"{API}/interactions/", {"queue": queue.pk, "channel": "chat"}).status_code in (
        401,
        403,
    )
    bad = _client(make_user("Supervisor")).post(
        f"{API}/interactions/", {"queue": queue.pk, "channel": "voice"}
    )
    assert (bad.status_code, bad.json()["code"]) == (400, "channel_not_served")
    assert not Interaction.objects.exists()


def test_agents_set_their_own_state_with_a_reason(make_user: Any) -> None:
    queue = make_queue()
    agent = make_agent(queue, available=False)
    colleague = make_agent(queue, available=False)
    NotReadyReason.objects.create(code="lunch", label="Lunch")
    me = _client(agent.user)

    assert (
        me.post(f"{API}/agents/{agent.pk}/state/", {"presence": "available"}).json()["state"] == "available"
    )
    body = me.post(f"{API}/agents/{agent.pk}/state/", {"presence": "not_ready", "reason": "lunch"}).json()
    assert (body["state"], body["not_ready_reason"]) == ("not_ready", "lunch")
    assert me.post(f"{API}/agents/{colleague.pk}/state/", {"presence": "available"}).status_code == 404
    assert [a["id"] for a in me.get(f"{API}/agents/").json()["results"]] == [agent.pk]
    supervisor = _client(make_user("Supervisor"))
    assert (
        supervisor.post(f"{API}/agents/{colleague.pk}/state/", {"presence": "available"}).status_code == 200
    )


def test_queues_carry_live_stats_in_a_fixed_number_of_queries(
    make_user: Any, django_assert_max_num_queries: Any
) -> None:
    queues = [make_queue(channels=["chat"], name=f"Q{n}") for n in range(5)]
    make_agent(queues[0])  # before the waiting interactions, which are not routed here
    for queue in queues:
        for _ in range(3):
            Interaction.objects.create(queue=queue, channel="chat", queued_at=timezone.now())
    client = _client(make_user("Marketer"))

    with django_assert_max_num_queries(8):
        rows = client.get(f"{API}/queues/").json()

    assert [row["name"] for row in rows] == ["Q0", "Q1", "Q2", "Q3", "Q4"]
    assert rows[0]["stats"]["agents_available"] == 1
    assert rows[1]["stats"]["waiting"] == 3


def test_interaction_list_query_count_does_not_grow(
    make_user: Any, django_assert_max_num_queries: Any
) -> None:
    queue = make_queue(channels=["chat"])
    agent = make_agent(queue, available=False)
    Interaction.objects.bulk_create(
        [
            Interaction(queue=queue, channel="chat", agent=agent, status=InteractionStatus.CLOSED)
            for _ in range(30)
        ]
    )
    client = _client(make_user("Supervisor"))

    with django_assert_max_num_queries(6):
        body = client.get(f"{API}/interactions/").json()

    assert len(body["results"]) == 30


def test_an_inbound_message_redelivered_is_stored_once(make_user: Any) -> None:
    from apps.interactions import services

    queue = make_queue(channels=["chat"])
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
    for _ in range(2):
        services.message_add(
            actor=SYSTEM,
            interaction_id=interaction.pk,
            body="Hi",
            direction="inbound",
            provider="webchat",
            provider_id="m-1",
        )
    assert Message.objects.count() == 1


def test_position_and_estimated_wait_for_the_customer_facing_side(make_user: Any) -> None:
    queue = make_queue(channels=["email"])
    make_agent(queue, available=False, username="backoffice")
    now = timezone.now()
    first = Interaction.objects.create(queue=queue, channel="email", queued_at=now - dt.timedelta(minutes=2))
    second = Interaction.objects.create(queue=queue, channel="email", queued_at=now)
    client = _client(make_user("Supervisor"))

    assert client.get(f"{API}/interactions/{second.pk}/position/").json() == {
        "position": 2,
        "estimated_wait_seconds": 360,
    }
    Interaction.objects.filter(pk=first.pk).update(status=InteractionStatus.ABANDONED)
    assert client.get(f"{API}/interactions/{second.pk}/position/").json()["position"] == 1
    Interaction.objects.filter(pk=second.pk).update(status=InteractionStatus.ABANDONED)
    assert client.get(f"{API}/interactions/{second.pk}/position/").json() == {
        "position": None,
        "estimated_wait_seconds": None,
    }


# -- transfers, notes, call control ----------------------------------------------------------------


def _active_via_api(client: APIClient, supervisor: APIClient, queue: Any, channel: str) -> int:
    pk = supervisor.post(f"{API}/interactions/", {"queue": queue.pk, "channel": channel}).json()["id"]
    assert client.post(f"{API}/interactions/{pk}/accept/").json()["status"] == "active"
    return int(pk)


def _row(pk: int) -> tuple[Any, ...]:
    interaction = Interaction.objects.get(pk=pk)
    return (
        interaction.status,
        interaction.agent_id,
        interaction.queue_id,
        interaction.notes,
        interaction.on_hold,
        interaction.version,
        interaction.events.count(),
    )


def test_an_agent_transfers_over_the_api_in_a_bounded_number_of_queries(
    make_user: Any, django_assert_max_num_queries: Any
) -> None:
    sales, billing = make_queue(channels=["chat"]), make_queue(channels=["chat"])
    agent = make_agent(sales)
    biller = make_agent(billing)
    me = _client(agent.user)
    pk = _active_via_api(me, _client(make_user("Supervisor")), sales, "chat")

    with django_assert_max_num_queries(60):  # the transfer, and the routing looks after commit
        response = me.post(f"{API}/interactions/{pk}/transfer/", {"queue": billing.pk, "note": "Refund"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["queue"], body["agent"], body["notes"]) == (
        "offered",
        billing.pk,
        biller.pk,
        "Refund",
    )
    # The agent is out of billing: the interaction left their sight once it moved.
    assert me.get(f"{API}/interactions/{pk}/").status_code == 404


def test_transfer_refusals_answer_with_the_domain_code_and_change_nothing(make_user: Any) -> None:
    sales = make_queue(channels=["chat"])
    agent = make_agent(sales)
    colleague = make_agent(sales, available=False)
    supervisor = _client(make_user("Supervisor"))
    me = _client(agent.user)
    pk = _active_via_api(me, supervisor, sales, "chat")
    before = _row(pk)

    cases = [
        (me, {}, 400, "invalid_target"),
        (me, {"agent": colleague.pk}, 409, "agent_unavailable"),
        (_client(colleague.user), {"queue": sales.pk}, 403, "not_allowed"),  # sees it (its queue), not theirs
    ]
    for client, payload, status_code, code in cases:
        response = client.post(f"{API}/interactions/{pk}/transfer/", payload)
        assert (response.status_code, response.json()["code"]) == (status_code, code), response.content
    assert _client(make_user("Marketer")).post(f"{API}/interactions/{pk}/transfer/", {}).status_code == 403
    assert _row(pk) == before


def test_notes_and_hold_over_the_api(make_user: Any, django_assert_max_num_queries: Any) -> None:
    queue = make_queue(channels=["voice", "chat"])
    agent = make_agent(queue)
    colleague = make_agent(queue, available=False)
    me = _client(agent.user)
    supervisor = _client(make_user("Supervisor"))
    chat = _active_via_api(me, supervisor, queue, "chat")
    call = _active_via_api(me, supervisor, queue, "voice")

    with django_assert_max_num_queries(20):
        noted = me.post(f"{API}/interactions/{call}/notes/", {"notes": "Card blocked"})
    with django_assert_max_num_queries(20):
        held = me.post(f"{API}/interactions/{call}/voice/", {"action": "hold"})

    assert noted.json()["notes"] == "Card blocked"
    assert (held.json()["on_hold"], held.json()["hold_count"]) == (True, 1)
    refused = me.post(f"{API}/interactions/{chat}/voice/", {"action": "hold"})
    assert (refused.status_code, refused.json()["code"]) == (400, "not_voice")
    assert me.post(f"{API}/interactions/{call}/voice/", {"action": "record"}).status_code == 400
    before = _row(call)
    assert (
        _client(colleague.user).post(f"{API}/interactions/{call}/voice/", {"action": "resume"}).status_code
        == 403
    )
    assert (
        _client(colleague.user).post(f"{API}/interactions/{call}/notes/", {"notes": "x"}).status_code == 403
    )
    assert supervisor.post(f"{API}/interactions/{call}/voice/", {"action": "resume"}).status_code == 403
    assert _row(call) == before


def test_conference_monitor_and_leave_over_the_api(
    make_user: Any, django_assert_max_num_queries: Any
) -> None:
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue)
    colleague = make_agent()
    me = _client(agent.user)
    boss = make_user("Supervisor")
    supervisor = _client(boss)
    call = _active_via_api(me, supervisor, queue, "voice")

    with django_assert_max_num_queries(40):  # two agents' loads and states, the gateway, events
        added = me.post(f"{API}/interactions/{call}/conference/", {"agent": colleague.pk})
    assert added.status_code == 201, added.content
    assert (added.json()["role"], added.json()["agent"], added.json()["username"]) == (
        "conference",
        colleague.pk,
        colleague.user.username,
    )
    outside = me.post(f"{API}/interactions/{call}/conference/", {"number": "+1 415 555 0134"})
    assert outside.json()["number"] == "+14155550134"
    with django_assert_max_num_queries(20):
        listening = supervisor.post(f"{API}/interactions/{call}/monitor/", {"mode": "listen"})
    assert (listening.status_code, listening.json()["role"], listening.json()["user"]) == (
        201,
        "listen",
        boss.pk,
    )
    before = InteractionParticipant.objects.count()
    assert me.post(f"{API}/interactions/{call}/monitor/", {"mode": "barge"}).status_code == 403
    assert InteractionParticipant.objects.count() == before

    with django_assert_max_num_queries(6):
        on_call = me.get(f"{API}/interactions/{call}/participants/").json()
    assert [p["role"] for p in on_call] == ["conference", "conference", "listen"]

    # The colleague leaves by themself; an agent with nothing to do with the call gets a 404.
    stranger = _client(make_agent().user)
    assert stranger.post(f"{API}/participants/{added.json()['id']}/leave/").status_code == 404
    left = _client(colleague.user).post(f"{API}/participants/{added.json()['id']}/leave/")
    assert (left.status_code, left.json()["left_at"] is not None) == (200, True)
    again = _client(colleague.user).post(f"{API}/participants/{added.json()['id']}/leave/")
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")
    assert me.get(f"{API}/interactions/{call}/participants/").json()[0]["number"] == "+14155550134"


def test_a_call_created_while_the_queue_is_closed_answers_missed_with_the_next_opening(
    make_user: Any,
) -> None:
    queue = make_queue(channels=["voice", "email"], business_hours={"sun": []})
    supervisor = _client(make_user("Supervisor"))

    call = supervisor.post(f"{API}/interactions/", {"queue": queue.pk, "channel": "voice"})
    email = supervisor.post(f"{API}/interactions/", {"queue": queue.pk, "channel": "email"})

    assert call.status_code == 201
    assert (call.json()["status"], call.json()["queued_at"], call.json()["queue_opens_at"]) == (
        "missed",
        None,
        None,
    )
    assert (email.json()["status"], email.json()["queue_opens_at"]) == ("queued", None)
