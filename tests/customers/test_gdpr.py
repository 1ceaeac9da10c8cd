from __future__ import annotations

import json
from typing import Any

import pytest

from apps.accounts.models import User
from apps.core.exceptions import NotAllowed
from apps.core.models import AuditEntry
from apps.customers.models import ContactPoint, Customer, CustomFieldDefinition, MergeRecord, Note
from apps.customers.services.customers import (
    ContactInput,
    contact_point_add,
    contact_point_set_consent,
    customer_create,
    note_add,
)
from apps.customers.services.gdpr import customer_erase, customer_export_personal_data
from apps.customers.services.merge import customer_merge
from apps.customers.signals import customer_erased

pytestmark = pytest.mark.django_db


def _customer(agent: User) -> Customer:
    CustomFieldDefinition.objects.create(key="plan", label="Plan")
    customer = customer_create(
        actor=agent,
        first_name="Ada",
        last_name="Lovelace",
        organization_name="Analytical Engines",
        job_title="Mathematician",
        external_id="crm-1",
        time_zone="Europe/London",
        contacts=[
            ContactInput(kind="phone", value="+442079460123"),
            ContactInput(kind="email", value="ada@example.com"),
        ],
        tags=["vip"],
        custom_fields={"plan": "gold"},
    )
    phone = customer.contact_points.get(kind="phone")
    contact_point_set_consent(
        actor=agent, contact_point=phone, consent="do_not_call", value=True, source="call"
    )
    note_add(actor=agent, customer=customer, body="Prefers mornings")
    return customer


def test_export_holds_everything_and_is_json(supervisor: User, agent: User) -> None:
    customer = _customer(agent)

    data = customer_export_personal_data(actor=supervisor, customer=customer)

    json.dumps(data)
    assert data["profile"]["first_name"] == "Ada"
    assert data["profile"]["external_id"] == "crm-1"
    assert data["organization"]["name"] == "Analytical Engines"
    phone = next(p for p in data["contact_points"] if p["kind"] == "phone")
    assert phone["value"] == "+442079460123"
    assert phone["consent"]["do_not_call"]["value"] is True
    assert phone["consent"]["do_not_call"]["source"] == "call"
    assert phone["consent"]["do_not_call"]["at"] is not None
    assert data["tags"] == ["vip"]
    assert data["custom_fields"] == {"plan": "gold"}
    assert [(n["body"], n["author"]["username"]) for n in data["notes"]] == [
        ("Prefers mornings", agent.username)
    ]
    assert [e["action"] for e in data["audit_history"]] == ["customer.create", "consent.do_not_call"]
    assert data["merge_records"] == []
    entry = AuditEntry.objects.get(action="customer.gdpr_export")
    assert (entry.actor, entry.object_id) == (supervisor, str(customer.pk))


def test_export_includes_merge_records(supervisor: User, agent: User) -> None:
    customer = _customer(agent)
    other = customer_create(
        actor=agent, first_name="Ada", contacts=[ContactInput(kind="email", value="a@b.example")]
    )
    customer_merge(actor=supervisor, survivor=customer, duplicate=other)

    data = customer_export_personal_data(actor=supervisor, customer=customer)

    assert len(data["merge_records"]) == 1
    assert data["merge_records"][0]["merged_record"]["contact_points"][0]["value"] == "a@b.example"


def test_agent_may_not_export(agent: User) -> None:
    customer = _customer(agent)

    with pytest.raises(NotAllowed):
        customer_export_personal_data(actor=agent, customer=customer)

    assert not AuditEntry.objects.filter(action="customer.gdpr_export").exists()


def test_erase_removes_personal_data_and_keeps_the_row(supervisor: User, agent: User) -> None:
    customer = _customer(agent)
    other = customer_create(
        actor=agent, first_name="Ada", contacts=[ContactInput(kind="email", value="a@b.example")]
    )
    customer_merge(actor=supervisor, survivor=customer, duplicate=other)

    erased = customer_erase(actor=supervisor, customer=customer)

    row = Customer.objects.get(pk=customer.pk)
    assert (row.first_name, row.last_name, row.job_title, row.external_id) == ("", "", "", None)
    assert row.organization_id is None
    assert row.custom_fields == {}
    assert row.search_text == ""
    assert row.time_zone == "Europe/London"
    assert row.is_erased is True and row.erased_at is not None
    assert erased.display_name == f"Erased customer #{customer.pk}"
    assert not ContactPoint.objects.filter(customer=customer).exists()
    assert not Note.objects.filter(customer=customer).exists()
    assert not row.tags.exists()
    assert MergeRecord.objects.get(survivor=customer).merged_snapshot == {"erased": True}


def test_erase_audit_holds_no_personal_data(supervisor: User, agent: User) -> None:
    customer = _customer(agent)
    contact_point_add(
        actor=agent, customer=customer, contact=ContactInput(kind="email", value="ada@work.example")
    )
    assert AuditEntry.objects.get(action="contact_point.add").data == {"value": "ada@work.example"}

    customer_erase(actor=supervisor, customer=customer)

    entry = AuditEntry.objects.get(action="customer.erase")
    assert entry.actor == supervisor
    assert entry.data == {"contact_points_deleted": 3, "notes_deleted": 1}
    everything = json.dumps(
        list(AuditEntry.objects.filter(object_id=str(customer.pk)).values_list("data", flat=True))
    )
    for personal in ("Ada", "Lovelace", "ada@", "442079460123", "crm-1"):
        assert personal not in everything


def test_erase_is_idempotent_and_signals_once(supervisor: User, agent: User) -> None:
    customer = _customer(agent)
    seen: list[int] = []

    def receiver(sender: type, **kwargs: Any) -> None:
        seen.append(kwargs["customer_id"])

    customer_erased.connect(receiver)
    try:
        first = customer_erase(actor=supervisor, customer=customer)
        second = customer_erase(actor=supervisor, customer=customer)
    finally:
        customer_erased.disconnect(receiver)

    assert seen == [customer.pk]
    assert first.erased_at == second.erased_at
    assert AuditEntry.objects.filter(action="customer.erase").count() == 1


def test_agent_may_not_erase_and_nothing_changes(agent: User) -> None:
    customer = _customer(agent)

    with pytest.raises(NotAllowed):
        customer_erase(actor=agent, customer=customer)

    row = Customer.objects.get(pk=customer.pk)
    assert (row.first_name, row.is_erased) == ("Ada", False)
    assert ContactPoint.objects.filter(customer=customer).count() == 2
    assert not AuditEntry.objects.filter(action="customer.erase").exists()


def test_erased_contact_points_can_be_reused(supervisor: User, agent: User) -> None:
    customer = _customer(agent)
    customer_erase(actor=supervisor, customer=customer)

    newcomer = customer_create(
        actor=agent, first_name="New", contacts=[ContactInput(kind="email", value="ada@example.com")]
    )

    assert newcomer.contact_points.get().value == "ada@example.com"
