"""schemathesis over every operation of /api/schema/, in-process (WSGI), once per role (admin,
agent, marketer): no answer is a server error, every status code, content type and body is the
one the schema documents, and no operation serves a request without valid credentials.

Bounded for a slow shared machine: a handful of examples per operation and generation mode,
derandomized (CI sees the same requests every run), no shrinking (a failure is reported as found,
all failures of a run at once, grouped by operation and check).

Authentication checks (`ignored_auth`): once an operation has answered 2xx, schemathesis sends
it again without the token and with a made-up one and expects 401/403. Reviewed: every operation
that answered 2xx refused both (401, DRF's token challenge); none serves a request without valid
credentials, so nothing needed fixing. Not false positives but cases the check rightly skips:
`POST /api/v1/auth/token/` declares no security (username and password are its credentials);
`cookieAuth` (Django's session) is listed beside `tokenAuth`, and the probes send no session
cookie either, so both schemes are covered by the same two probes.

OPTIONS is in no operation of the schema, so schemathesis never sends it; a sweep here sends it
to every route (DRF's metadata action answers it) and wants 200, 403 or 404.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from apps.accounts.models import User
from apps.campaigns.models import ContactLog, LeadAttempt
from apps.campaigns.services.campaigns import campaign_create
from apps.campaigns.services.dnc import dnc_entry_add, dnc_list_create
from apps.core.actors import SYSTEM
from apps.customers.models import ContactPoint
from apps.customers.services.customers import ContactInput, customer_create, note_add
from apps.interactions import services as interaction_services
from apps.interactions.models import Disposition, DispositionCategory
from tests.campaigns.factories import LeadFactory, attach_list
from tests.interactions.factories import make_agent, make_queue

# One rolled-back transaction, not committed ones: committing each request costs several times
# the whole budget here. A write that leaves a foreign key to a missing row still fails the test:
# Django checks deferred constraints when the test's transaction ends.
pytestmark = [pytest.mark.django_db, pytest.mark.fuzz]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    ignored_auth,
]
EXAMPLES_PER_MODE = 4
"""Per operation, per generation mode (positive, negative), per role: ~50 operations x 3 roles."""
EXAMPLES_ON_KNOWN_ROWS = 3
"""Extra positive examples whose path id is a row that exists, so bodies reach the services."""


@dataclass
class FuzzReport:
    requests: int = 0
    operations: set[str] = field(default_factory=set)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    occurrences: collections.Counter[str] = field(default_factory=collections.Counter)
    without_negative_data: set[str] = field(default_factory=set)


@pytest.fixture
def wsgi_app() -> Iterator[WSGIHandler]:
    # A real WSGI handler closes "old" connections at the start and end of every request, which
    # would close the test's transaction under it; Django's own test client disconnects the same
    # receiver for the same reason.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_data(make_user: Any) -> dict[str, Any]:
    """A few rows of each kind, so ids exist: customers, a queue with an agent, an interaction, a
    campaign that queue works with a list, a lead with an attempt, a do-not-call list and entry."""
    admin = make_user("Admin")
    marketer = make_user("Marketer")
    queue = make_queue(channels=["voice", "chat", "email"])
    agent = make_agent(queue)
    Disposition.objects.create(code="resolved", label="Resolved", category=DispositionCategory.RESOLVED)
    first = customer_create(
        actor=SYSTEM,
        first_name="Ada",
        last_name="Lovelace",
        external_id="ext-1",
        contacts=[ContactInput(kind="email", value="ada@example.com")],
    )
    customer_create(
        actor=SYSTEM,
        first_name="Alan",
        last_name="Turing",
        contacts=[ContactInput(kind="phone", value="+14155550100")],
    )
    note_add(actor=admin, customer=first, body="Called about the invoice.")
    interaction = interaction_services.interaction_enqueue(
        actor=SYSTEM, queue=queue, channel="chat", customer=first, subject="Order"
    )
    campaign = campaign_create(actor=marketer, name="Renewals", queue=queue)
    contact_list = attach_list(campaign, name="October renewals")
    lead = LeadFactory(campaign=campaign, contact_list=contact_list, contact="+14155550101")
    LeadAttempt.objects.create(
        lead=lead, campaign=campaign, channel="voice", contact=lead.contact, started_at=timezone.now()
    )
    ContactLog.objects.create(
        at=timezone.now(),
        campaign=campaign,
        lead=lead,
        channel="voice",
        contact=lead.contact,
        allowed=True,
        rule="allowed",
    )
    dnc_list = dnc_list_create(actor=marketer, name="Renewals DNC", kind="campaign", campaign=campaign)
    dnc_entry = dnc_entry_add(actor=marketer, number="+14155550199", reason="asked", dnc_list=dnc_list)
    return {
        "users": {"admin": admin, "agent": agent.user, "marketer": marketer},
        "ids": {
            "customers": first.pk,
            "contact-points": ContactPoint.objects.filter(customer=first).values_list("pk", flat=True)[0],
            "notes": first.notes.values_list("pk", flat=True)[0],
            "interactions": interaction.pk,
            "queues": queue.pk,
            "agents": agent.pk,
            "dispositions": Disposition.objects.get().pk,
            "campaigns": campaign.pk,
            "contact-lists": contact_list.pk,
            "leads": lead.pk,
            "dnc-lists": dnc_list.pk,
            "dnc-entries": dnc_entry.pk,
        },
    }


def _resource(path: str) -> str:
    return path.removeprefix("/api/v1/").split("/", 1)[0]


def _fuzz(schema: Any, headers: dict[str, str], ids: dict[str, int], report: FuzzReport) -> None:
    # No shrinking and no example database: failures are collected, not minimized, so a broken
    # operation costs its examples and no more; derandomized, so every run sends the same requests.
    base: dict[str, Any] = {
        "derandomize": True,
        "database": None,
        "deadline": None,
        "phases": [Phase.explicit, Phase.generate],
        "suppress_health_check": list(HealthCheck),
    }

    for result in schema.get_all_operations():
        operation = result.ok()
        report.operations.add(operation.label)
        strategies = [
            (operation.as_strategy(generation_mode=GenerationMode.POSITIVE), EXAMPLES_PER_MODE),
            (operation.as_strategy(generation_mode=GenerationMode.NEGATIVE), EXAMPLES_PER_MODE),
        ]
        known = ids.get(_resource(operation.path))
        if "{id}" in operation.path and known is not None:
            strategies.append(
                (
                    operation.as_strategy(
                        generation_mode=GenerationMode.POSITIVE, path_parameters={"id": known}
                    ),
                    EXAMPLES_ON_KNOWN_ROWS,
                )
            )
        for strategy, examples in strategies:

            @settings(max_examples=examples, **base)
            @given(case=strategy)
            def run(case: Any) -> None:
                report.requests += 1
                try:
                    case.call_and_validate(headers=headers, checks=CHECKS)
                except FailureGroup as group:
                    for failure in group.exceptions:
                        key = (case.operation.label, type(failure).__name__)
                        report.occurrences[key[1]] += 1
                        report.failures.setdefault(key, f"{failure.title}: {failure.message}"[:400])

            try:
                run()
            except Unsatisfiable:
                # Negative mode for an operation with no input that can be made invalid (only
                # a path id already fuzzed as any string): nothing to send.
                report.without_negative_data.add(operation.label)


def _options_sweep(schema: Any, headers: dict[str, str], ids: dict[str, int], report: FuzzReport) -> None:
    """OPTIONS on every route: the schema lists no OPTIONS operation, so schemathesis never sends
    one, yet DRF answers it on each route (its metadata action) and clients do send it."""
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=headers["Authorization"])
    for path in schema.raw_schema["paths"]:
        url = path.replace("{id}", str(ids.get(_resource(path), 1)))
        response = client.options(url)
        report.requests += 1
        if response.status_code not in {200, 403, 404}:
            report.occurrences["OPTIONS"] += 1
            report.failures[(f"OPTIONS {path}", "OPTIONS")] = f"answered {response.status_code}"


@pytest.mark.parametrize("role", ["admin", "agent", "marketer"])
def test_api_answers_every_generated_request_as_its_schema_documents(
    role: str, wsgi_app: WSGIHandler, fuzz_data: dict[str, Any]
) -> None:
    # Given a token of the role and the schema the app serves
    user: User = fuzz_data["users"][role]
    headers = {"Authorization": f"Token {Token.objects.create(user=user).key}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app, headers=headers)
    report = FuzzReport()

    # When schemathesis sends generated requests to every operation, and OPTIONS goes to each route
    _fuzz(schema, headers, fuzz_data["ids"], report)
    _options_sweep(schema, headers, fuzz_data["ids"], report)

    # Then no check failed anywhere
    print(
        f"{role}: {len(report.operations)} operations, {report.requests} examples, "
        f"failures by class {dict(report.occurrences)}, distinct {len(report.failures)}"
    )
    assert report.operations, "the schema lists no operation"
    assert not report.failures, "\n".join(
        f"{label} [{check}] {message}" for (label, check), message in sorted(report.failures.items())
    )
