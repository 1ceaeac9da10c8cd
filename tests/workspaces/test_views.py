from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.customers.services.customers import ContactInput, contact_point_set_consent, customer_create

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/desk/", {"Agent", "Supervisor", "Admin"}),
        ("/wallboard/", {"Supervisor", "Admin"}),
        ("/campaigns/", {"Marketer", "Supervisor", "Admin"}),
    ],
)
def test_workspaces_open_only_for_their_roles(
    client_for: Callable[[str | None], Client], path: str, allowed: set[str]
) -> None:
    for role in ("Agent", "Supervisor", "Marketer", "Admin"):
        response = client_for(role).get(path)
        assert response.status_code == (200 if role in allowed else 403), (role, path)
    anonymous = client_for(None).get(path)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/?next=")


def test_desk_lists_the_agents_own_customers(make_user: Callable[..., User]) -> None:
    agent = make_user("Agent")
    other = make_user("Agent")
    customer_create(actor=agent, first_name="Mine", last_name="Customer", owner=agent)
    customer_create(actor=agent, first_name="Theirs", last_name="Customer", owner=other)
    client = Client()
    client.force_login(agent)

    page = client.get("/desk/").content.decode()

    assert "Mine Customer" in page
    assert "Theirs Customer" not in page


def test_wallboard_counts_do_not_call_numbers(make_user: Callable[..., User]) -> None:
    supervisor = make_user("Supervisor")
    customer = customer_create(
        actor=supervisor, first_name="Dan", contacts=[ContactInput(kind="phone", value="+14155550100")]
    )
    contact_point_set_consent(
        actor=supervisor,
        contact_point=customer.contact_points.get(),
        consent="do_not_call",
        value=True,
        source="test",
    )
    client = Client()
    client.force_login(supervisor)

    response = client.get("/wallboard/")

    assert response.context["dnc_count"] == 1
    assert response.context["stats"]["new_today"] == 1
