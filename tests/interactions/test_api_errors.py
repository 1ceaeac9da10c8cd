"""Bad input to the contact-center API is a 4xx naming the field, never a 500, and changes
nothing: filters that are not ids or choices, ids beyond 64 bits, targets that do not exist,
OPTIONS on every route."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.core.actors import SYSTEM
from apps.interactions import services
from apps.interactions.models import Interaction, InteractionParticipant, InteractionStatus
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db

API = "/api/v1"
BEYOND_64_BITS = "99999999999999999999"
MAX_ID = 2**63 - 1


def _client(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def supervisor_api(make_user: Callable[..., User]) -> APIClient:
    return _client(make_user("Supervisor"))


@pytest.mark.parametrize("value", ["abc", "1.5", BEYOND_64_BITS, "0", "-2", "١"])
def test_a_queue_filter_that_is_not_an_id_is_a_400_naming_it(supervisor_api: APIClient, value: str) -> None:
    response = supervisor_api.get(f"{API}/interactions/", {"queue": value})

    assert response.status_code == 400
    assert response.json() == {"queue": [f"queue must be a whole number from 1 to {MAX_ID}."]}


def test_the_queue_filter_still_filters(supervisor_api: APIClient) -> None:
    sales, support = make_queue(channels=["chat"]), make_queue(channels=["chat"])
    services.interaction_enqueue(actor=SYSTEM, queue=sales, channel="chat", subject="Sales")
    services.interaction_enqueue(actor=SYSTEM, queue=support, channel="chat", subject="Support")

    response = supervisor_api.get(f"{API}/interactions/", {"queue": str(sales.pk)})

    assert response.status_code == 200
    assert [row["subject"] for row in response.json()["results"]] == ["Sales"]


@pytest.mark.parametrize(("name", "value"), [("status", "bogus"), ("channel", "fax")])
def test_status_and_channel_filters_refuse_unknown_values(
    supervisor_api: APIClient, name: str, value: str
) -> None:
    response = supervisor_api.get(f"{API}/interactions/", {name: value})

    assert response.status_code == 400
    assert list(response.json()) == [name]
    assert response.json()[name][0].startswith(f"{name} must be one of: ")


@pytest.mark.parametrize(
    "path",
    [
        f"/interactions/{BEYOND_64_BITS}/",
        f"/interactions/{BEYOND_64_BITS}/position/",
        f"/interactions/{BEYOND_64_BITS}/messages/",
        f"/queues/{BEYOND_64_BITS}/",
        f"/agents/{BEYOND_64_BITS}/",
        f"/dispositions/{BEYOND_64_BITS}/",
        "/queues/1.5/",
    ],
)
def test_an_id_that_cannot_exist_is_a_json_404(supervisor_api: APIClient, path: str) -> None:
    response = supervisor_api.get(f"{API}{path}")

    assert response.status_code == 404
    assert response.json()["detail"].startswith("No ")


def test_actions_on_an_id_beyond_64_bits_are_404(supervisor_api: APIClient) -> None:
    accept = supervisor_api.post(f"{API}/interactions/{BEYOND_64_BITS}/accept/")
    leave = supervisor_api.post(f"{API}/participants/{BEYOND_64_BITS}/leave/")
    state = supervisor_api.post(f"{API}/agents/{BEYOND_64_BITS}/state/", {"presence": "available"})

    assert (accept.status_code, leave.status_code, state.status_code) == (404, 404, 404)


@pytest.fixture
def active_chat(make_user: Callable[..., User]) -> tuple[Interaction, Any]:
    queue = make_queue(channels=["chat"])
    agent = make_agent(queue)
    interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
    services.interaction_accept(actor=agent.user, interaction_id=interaction.pk)
    return interaction, agent


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"queue": BEYOND_64_BITS}, "queue"),
        ({"agent": BEYOND_64_BITS}, "agent"),
        ({"agent": 0}, "agent"),
        ({"queue": "abc"}, "queue"),
    ],
)
def test_a_transfer_target_that_cannot_be_an_id_is_a_400_and_changes_nothing(
    active_chat: tuple[Interaction, Any], body: dict[str, Any], field: str
) -> None:
    interaction, agent = active_chat

    response = _client(agent.user).post(f"{API}/interactions/{interaction.pk}/transfer/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    interaction.refresh_from_db()
    assert (interaction.status, interaction.agent_id) == (InteractionStatus.ACTIVE, agent.pk)


@pytest.mark.parametrize("body", [{"queue": 424242}, {"agent": 424242}])
def test_a_transfer_to_a_row_that_does_not_exist_is_a_4xx_and_changes_nothing(
    active_chat: tuple[Interaction, Any], body: dict[str, Any]
) -> None:
    interaction, agent = active_chat

    response = _client(agent.user).post(f"{API}/interactions/{interaction.pk}/transfer/", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_target"
    interaction.refresh_from_db()
    assert (interaction.status, interaction.agent_id) == (InteractionStatus.ACTIVE, agent.pk)


@pytest.mark.parametrize("agent_value", [424242, BEYOND_64_BITS])
def test_conference_with_an_agent_that_does_not_exist_is_a_400_and_adds_nobody(
    active_chat: tuple[Interaction, Any], agent_value: object
) -> None:
    interaction, agent = active_chat

    response = _client(agent.user).post(
        f"{API}/interactions/{interaction.pk}/conference/", {"agent": agent_value}, format="json"
    )

    assert 400 <= response.status_code < 500
    assert InteractionParticipant.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"queue": BEYOND_64_BITS, "to_number": "+14155550100"}, "queue"),
        ({"queue": 424242, "to_number": "+14155550100"}, "queue"),
        ({"queue": "abc", "to_number": "+14155550100"}, "queue"),
        ({"customer": BEYOND_64_BITS, "to_number": "+14155550100"}, "customer"),
        ({"agent": 424242, "to_number": "+14155550100"}, "agent"),
    ],
)
def test_originate_with_a_row_that_does_not_exist_is_a_400_and_places_nothing(
    supervisor_api: APIClient, body: dict[str, Any], field: str
) -> None:
    queue = make_queue(channels=["voice"])
    body = {"queue": queue.pk, **body}

    response = supervisor_api.post(f"{API}/interactions/originate/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert Interaction.objects.count() == 0


@pytest.mark.parametrize(
    "path",
    [
        "/interactions/",
        "/interactions/1/",
        "/interactions/originate/",
        "/queues/",
        "/agents/",
        "/dispositions/",
    ],
)
def test_options_is_answered_for_the_roles_of_the_route(supervisor_api: APIClient, path: str) -> None:
    response = supervisor_api.options(f"{API}{path}")

    assert response.status_code == 200


def test_options_on_agent_routes_is_a_403_for_a_marketer(make_user: Callable[..., User]) -> None:
    response = _client(make_user("Marketer")).options(f"{API}/interactions/")

    assert response.status_code == 403


def test_filtered_list_runs_a_fixed_number_of_queries(
    supervisor_api: APIClient, django_assert_max_num_queries: Any
) -> None:
    queue = make_queue(channels=["chat"])
    for _ in range(3):
        services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")

    with django_assert_max_num_queries(8):
        response = supervisor_api.get(
            f"{API}/interactions/", {"queue": str(queue.pk), "status": "queued", "channel": "chat"}
        )

    assert response.status_code == 200
    assert response.json()["count"] == 3


def test_a_refused_filter_costs_no_listing_query(
    supervisor_api: APIClient, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(4):
        response = supervisor_api.get(f"{API}/interactions/", {"queue": "abc"})

    assert response.status_code == 400
