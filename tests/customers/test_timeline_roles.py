"""What each role reads of a customer's interactions on the customer timeline: the interactions
API's rule (supervisors and admins everything, agents their own and their queues', marketers
no interaction), so the timeline shows a marketer, and an agent an interaction of another
queue, only that a contact happened: no queue, outcome, subject, notes, disposition, agent or
link. Pages and the older-entries fragment, with their query counts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import User
from apps.core.actors import SYSTEM
from apps.core.exceptions import NotAllowed
from apps.customers.models import Customer
from apps.customers.services.customers import ContactInput, customer_create, note_add
from apps.customers.timeline import customer_timeline
from apps.interactions.models import (
    AgentProfile,
    Disposition,
    DispositionCategory,
    Interaction,
    InteractionStatus,
    Queue,
)
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db

# What only a reader of the interactions may see, one distinct string per detail.
BILLING_DETAILS = ("Invoice copy", "Customer asked for a refund", "Refund promised", "Queue Billing-Desk")
RETENTION_DETAILS = ("Cancel my plan", "Angry about the fees", "Queue Retention-Desk")
CONTACT = "Email contact (inbound)"
PHONE_CONTACT = "Voice contact (outbound)"


@dataclass
class Given:
    customer: Customer
    billing_agent: AgentProfile
    billing: Interaction
    retention: Interaction


def _closed(customer: Customer, queue: Queue, agent: AgentProfile | None, **fields: object) -> Interaction:
    return Interaction.objects.create(
        customer=customer, queue=queue, agent=agent, status=InteractionStatus.CLOSED, version=5, **fields
    )


@pytest.fixture
def given(supervisor: User) -> Given:
    customer = customer_create(
        actor=SYSTEM,
        first_name="Grace",
        last_name="Hopper",
        contacts=[ContactInput(kind="phone", value="+14155550177")],
    )
    note_add(actor=supervisor, customer=customer, body="Prefers email")
    billing_queue = make_queue("Queue Billing-Desk", channels=["email", "voice"])
    retention_queue = make_queue("Queue Retention-Desk", channels=["email"])
    billing_agent = make_agent(billing_queue, username="billie", available=False)
    retention_agent = make_agent(retention_queue, username="rita", available=False)
    refund = Disposition.objects.create(
        code="refund", label="Refund promised", category=DispositionCategory.RESOLVED
    )
    billing = _closed(
        customer,
        billing_queue,
        billing_agent,
        channel="email",
        subject="Invoice copy",
        notes="Customer asked for a refund",
        disposition=refund,
    )
    retention = _closed(
        customer,
        retention_queue,
        retention_agent,
        channel="email",
        subject="Cancel my plan",
        notes="Angry about the fees",
    )
    return Given(customer=customer, billing_agent=billing_agent, billing=billing, retention=retention)


def _html(client: Client, path: str, data: dict[str, str] | None = None, **headers: str) -> str:
    response = client.get(path, data, **headers)  # type: ignore[arg-type]
    assert response.status_code == 200
    return response.content.decode()


def _login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _desk_link(interaction: Interaction) -> str:
    return f"/desk/?open={interaction.pk}"


@pytest.mark.parametrize("role", ["Supervisor", "Admin"])
def test_supervision_reads_every_interaction_in_full(
    given: Given, make_user: Callable[..., User], role: str
) -> None:
    html = _html(_login(make_user(role)), f"/customers/{given.customer.pk}/")

    for detail in (*BILLING_DETAILS, *RETENTION_DETAILS):
        assert detail in html, detail
    assert _desk_link(given.billing) in html
    assert _desk_link(given.retention) in html
    assert CONTACT not in html
    assert "Prefers email" in html


def test_an_agent_reads_their_queues_interactions_in_full_and_only_the_contact_of_others(
    given: Given,
) -> None:
    html = _html(_login(given.billing_agent.user), f"/customers/{given.customer.pk}/")

    for detail in BILLING_DETAILS:
        assert detail in html, detail
    assert _desk_link(given.billing) in html
    for detail in RETENTION_DETAILS:
        assert detail not in html, detail
    assert "rita" not in html  # the other queue's agent
    assert _desk_link(given.retention) not in html
    assert html.count(CONTACT) == 1
    assert f'id="interaction-{given.retention.pk}"' in html
    assert "Prefers email" in html


def test_a_marketer_sees_that_contacts_happened_and_nothing_of_what_was_said(
    given: Given, marketer: User
) -> None:
    _closed(given.customer, given.billing.queue, None, channel="voice", direction="outbound")  # type: ignore[arg-type]

    html = _html(_login(marketer), f"/customers/{given.customer.pk}/")

    for detail in (*BILLING_DETAILS, *RETENTION_DETAILS):
        assert detail not in html, detail
    for name in ("billie", "rita", "closed", "/desk/"):
        assert name not in html, name
    assert html.count(CONTACT) == 2
    assert html.count(PHONE_CONTACT) == 1
    assert f'id="interaction-{given.billing.pk}"' in html
    assert f'id="interaction-{given.retention.pk}"' in html
    assert "Prefers email" in html  # the customer's own notes: every CRM role reads them


def test_the_older_entries_fragment_follows_the_same_rule(given: Given, marketer: User) -> None:
    # A cursor after every entry: the fragment lists the same entries as the page.
    cursor = {"before": "2999-01-01T00:00:00+00:00"}
    path = f"/customers/{given.customer.pk}/timeline/"

    marketer_html = _html(_login(marketer), path, cursor, HTTP_HX_REQUEST="true")
    agent_html = _html(_login(given.billing_agent.user), path, cursor, HTTP_HX_REQUEST="true")

    assert "Invoice copy" not in marketer_html
    assert "Customer asked for a refund" not in marketer_html
    assert marketer_html.count(CONTACT) == 2
    assert "Invoice copy" in agent_html
    assert "Cancel my plan" not in agent_html
    assert agent_html.count(CONTACT) == 1


def test_anonymous_and_roleless_users_read_no_timeline(
    given: Given, client_for: Callable[[str | None], Client], make_user: Callable[..., User]
) -> None:
    for path in (f"/customers/{given.customer.pk}/", f"/customers/{given.customer.pk}/timeline/"):
        anonymous = client_for(None).get(path)
        assert anonymous.status_code == 302
        assert anonymous["Location"].startswith("/login/?next=")
        assert "Invoice copy" not in anonymous.content.decode()
    with pytest.raises(NotAllowed):
        customer_timeline(given.customer, viewer=make_user())


@pytest.mark.parametrize("role", ["Agent", "Supervisor", "Marketer", "Admin"])
def test_the_timelines_queries_do_not_grow_with_interactions(
    given: Given,
    make_user: Callable[..., User],
    django_assert_max_num_queries: Callable[..., object],
    role: str,
) -> None:
    user = given.billing_agent.user if role == "Agent" else make_user(role)
    client = _login(user)
    path = f"/customers/{given.customer.pk}/"
    _html(client, path)  # warm: the session, the roles
    with CaptureQueriesContext(connection) as few:
        _html(client, path)
    for queue_interaction in (given.billing, given.retention) * 5:
        _closed(
            given.customer,
            queue_interaction.queue,  # type: ignore[arg-type]
            queue_interaction.agent,
            channel="email",
            subject="More of the same",
        )

    with django_assert_max_num_queries(12) as many:  # type: ignore[operator]
        html = _html(client, path)

    assert len(many.captured_queries) == len(few.captured_queries)  # type: ignore[attr-defined]

    shown = html.count("More of the same")
    assert shown == {"Agent": 5, "Supervisor": 10, "Admin": 10, "Marketer": 0}[role]


def test_the_agents_screen_pop_follows_the_same_rule(given: Given) -> None:
    # Given an email of the customer's with the billing agent now
    current = Interaction.objects.create(
        customer=given.customer,
        queue=given.billing.queue,
        agent=given.billing_agent,
        channel="email",
        status=InteractionStatus.ACTIVE,
        version=3,
    )

    # When the agent opens it on the desk
    panel = _html(_login(given.billing_agent.user), f"/desk/interactions/{current.pk}/")

    # Then the customer's history shows their queue's past in full, the other queue's as a contact
    assert "Invoice copy" in panel
    assert "Refund promised" in panel
    assert "Cancel my plan" not in panel
    assert "Angry about the fees" not in panel  # (the queue's name is in the transfer menu)
    assert CONTACT in panel
