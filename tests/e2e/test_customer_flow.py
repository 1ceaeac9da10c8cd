"""An agent finds a customer by a phone number typed in another format, opens the record, adds a
note and sees it on the timeline without a page reload (issue 2, item 16)."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from apps.accounts.models import User
from apps.core.actors import SystemActor
from apps.customers.models import CustomFieldDefinition, CustomFieldType, Note
from apps.customers.services.customers import (
    ContactInput,
    contact_point_set_consent,
    customer_create,
    note_add,
)
from tests.e2e.conftest import PASSWORD, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT_ENV = "SWITCHBOARD_SCREENSHOT"


def test_agent_finds_customer_by_phone_and_adds_a_note(
    live_server: Any, browser_page: Any, make_user: Callable[..., User]
) -> None:
    # Given an agent and a customer whose phone is stored as E.164, among other customers
    make_user("Agent", username="amy", password=PASSWORD, first_name="Amy", last_name="Agent")
    customer = customer_create(
        actor=SystemActor("test setup"),
        first_name="Ada",
        last_name="Lovelace",
        organization_name="Analytical Engines",
        contacts=[ContactInput(kind="phone", value="+14155550134")],
    )
    customer_create(
        actor=SystemActor("test setup"),
        first_name="Grace",
        contacts=[ContactInput(kind="phone", value="+14155550135")],
    )
    customer_create(
        actor=SystemActor("test setup"),
        first_name="Alan",
        contacts=[ContactInput(kind="phone", value="+442079460134")],
    )
    page = browser_page

    # When the agent signs in through the form and searches the number typed another way
    sign_in(page, live_server.url, "amy")
    assert page.url == f"{live_server.url}/desk/"
    page.goto(f"{live_server.url}/customers/")
    page.fill("#customer-search", "(415) 555 0134")
    page.press("#customer-search", "Enter")
    page.wait_for_url(re.compile(r".*/customers/\?q=.*"))
    results = page.locator("#customer-results tbody tr")
    assert results.count() == 1
    assert "+1 415-555-0134" in results.first.inner_text()

    # ... opens the record and adds a note through the form
    page.click("#customer-results >> text=Ada Lovelace")
    page.wait_for_url(f"{live_server.url}/customers/{customer.pk}/")
    page.evaluate("window.__sameDocument = true")
    page.fill("#note-form textarea", "Asked for a callback about the renewal on Friday.")
    page.click("#note-form button[type=submit]")

    # Then the note shows on the timeline, swapped in without a reload, and the form is empty
    timeline = page.locator("#timeline")
    timeline.get_by_text("Asked for a callback about the renewal on Friday.").wait_for()
    assert page.evaluate("window.__sameDocument === true")
    assert page.input_value("#note-form textarea") == ""
    assert Note.objects.get(customer=customer).body == "Asked for a callback about the renewal on Friday."


def _realistic_customer(owner: User) -> int:
    CustomFieldDefinition.objects.create(
        key="contract", label="Contract number", field_type=CustomFieldType.TEXT, position=1
    )
    CustomFieldDefinition.objects.create(
        key="plan",
        label="Support plan",
        field_type=CustomFieldType.CHOICE,
        choices=["Gold", "Silver"],
        position=2,
    )
    CustomFieldDefinition.objects.create(
        key="renewal", label="Renewal date", field_type=CustomFieldType.DATE, position=3
    )
    customer = customer_create(
        actor=owner,
        first_name="María",
        last_name="Fernández",
        organization_name="Northwind Logistics",
        job_title="Head of Operations",
        owner=owner,
        lifecycle_stage="customer",
        contacts=[
            ContactInput(kind="phone", value="+1 415-555-0134", label="mobile"),
            ContactInput(kind="phone", value="+1 415-555-0188", label="office"),
            ContactInput(kind="email", value="maria.f@northwind.example", label="work"),
            ContactInput(kind="social", network="whatsapp", value="mariafernandez"),
        ],
        tags=["vip", "renewal-q3"],
        custom_fields={"contract": "NW-2024-0815", "plan": "Gold", "renewal": "2025-09-30"},
    )
    points = {p.value: p for p in customer.contact_points.all()}
    contact_point_set_consent(
        actor=owner,
        contact_point=points["+14155550188"],
        consent="do_not_call",
        value=True,
        source="agent: jchen",
    )
    contact_point_set_consent(
        actor=owner, contact_point=points["+14155550134"], consent="sms_opt_in", value=True, source="web form"
    )
    now = timezone.now()
    for hours, body in [
        (50, "Onboarding call: three warehouses go live in June; María is the main contact."),
        (26, "Sent the renewal quote for 120 seats. She wants the Gold plan with weekend support."),
        (3, "Called back: legal is reviewing the contract, decision expected by Friday."),
    ]:
        note = note_add(actor=owner, customer=customer, body=body)
        Note.objects.filter(pk=note.pk).update(created_at=now - dt.timedelta(hours=hours))
    return customer.pk


def test_customer_page_renders_without_browser_errors(
    live_server: Any, browser_page: Any, make_user: Callable[..., User], tmp_path: Path
) -> None:
    """Also writes the README screenshot when SWITCHBOARD_SCREENSHOT names the file:
    SWITCHBOARD_SCREENSHOT=static/img/screenshot-customer.png pytest tests/e2e -k renders"""
    # A supervisor, so the screenshot shows every action the page offers.
    owner = make_user("Supervisor", username="jchen", password=PASSWORD, first_name="Jamie", last_name="Chen")
    pk = _realistic_customer(owner)
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    sign_in(page, live_server.url, "jchen")
    page.goto(f"{live_server.url}/customers/{pk}/")
    page.wait_for_load_state("load")  # htmx has run (no polled predicate: the CSP forbids eval)

    assert page.locator("h1").inner_text() == "María Fernández"
    assert page.locator("#contacts .badge-dnc").count() == 1
    assert errors == []
    target = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "customer.png")
    page.screenshot(path=str(target), full_page=False)
    assert target.stat().st_size > 10_000
