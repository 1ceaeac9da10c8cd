from __future__ import annotations

from typing import Any

import pytest

from apps.accounts.models import User
from apps.core.exceptions import NotAllowed
from apps.core.models import AuditEntry
from apps.customers.exceptions import MergeNotAllowed
from apps.customers.models import ContactPoint, Customer, CustomFieldDefinition, MergeRecord, Note, Tag
from apps.customers.services.customers import (
    ContactInput,
    customer_create,
    customer_update,
    note_add,
)
from apps.customers.services.gdpr import customer_erase
from apps.customers.services.merge import customer_merge
from apps.customers.signals import customer_merged

pytestmark = pytest.mark.django_db


def _pair(agent: User) -> tuple[Customer, Customer]:
    CustomFieldDefinition.objects.create(key="plan", label="Plan")
    CustomFieldDefinition.objects.create(key="contract", label="Contract")
    survivor = customer_create(
        actor=agent,
        first_name="Ada",
        last_name="Lovelace",
        contacts=[
            ContactInput(kind="phone", value="+14155550134"),
            ContactInput(kind="email", value="ada@example.com"),
        ],
        tags=["vip"],
        custom_fields={"plan": "gold"},
    )
    duplicate = customer_create(
        actor=agent,
        first_name="Ada",
        last_name="Lovelace",
        organization_name="Analytical Engines",
        job_title="Mathematician",
        external_id="crm-7",
        contacts=[
            ContactInput(kind="phone", value="+442079460123"),
            ContactInput(kind="email", value="ada@engines.example"),
        ],
        tags=["newsletter", "vip"],
        custom_fields={"plan": "silver", "contract": "C-1"},
    )
    note_add(actor=agent, customer=duplicate, body="Called about invoice")
    return survivor, duplicate


def test_merge_keeps_every_contact_point_note_and_tag(supervisor: User, agent: User) -> None:
    survivor, duplicate = _pair(agent)
    duplicate_id = duplicate.pk

    record = customer_merge(actor=supervisor, survivor=survivor, duplicate=duplicate)

    assert not Customer.objects.filter(pk=duplicate_id).exists()
    points = sorted(ContactPoint.objects.filter(customer=survivor).values_list("kind", "value", "is_primary"))
    assert points == [
        ("email", "ada@engines.example", False),
        ("email", "ada@example.com", True),
        ("phone", "+14155550134", True),
        ("phone", "+442079460123", False),
    ]
    assert list(Note.objects.filter(customer=survivor).values_list("body", flat=True)) == [
        "Called about invoice"
    ]
    assert sorted(survivor.tags.values_list("name", flat=True)) == ["newsletter", "vip"]
    assert record.survivor_id == survivor.pk
    assert record.merged_customer_id == duplicate_id
    assert record.merged_by == supervisor


def test_merge_fills_empty_fields_and_survivor_wins_custom_fields(supervisor: User, agent: User) -> None:
    survivor, duplicate = _pair(agent)

    customer_merge(actor=supervisor, survivor=survivor, duplicate=duplicate)

    survivor.refresh_from_db()
    assert survivor.organization is not None and survivor.organization.name == "Analytical Engines"
    assert survivor.job_title == "Mathematician"
    assert survivor.external_id == "crm-7"
    assert survivor.custom_fields == {"plan": "gold", "contract": "C-1"}
    assert survivor.time_zone == "America/Los_Angeles"
    assert "ada@engines.example" in survivor.search_text
    assert "442079460123" in survivor.search_text


def test_merge_snapshot_audit_and_history_move_to_survivor(supervisor: User, agent: User) -> None:
    survivor, duplicate = _pair(agent)
    duplicate_id = duplicate.pk
    note_id = Note.objects.get(customer=duplicate).pk

    record = customer_merge(actor=supervisor, survivor=survivor, duplicate=duplicate)

    snapshot = record.merged_snapshot
    assert snapshot["id"] == duplicate_id
    assert snapshot["external_id"] == "crm-7"
    assert snapshot["organization"]["name"] == "Analytical Engines"
    assert sorted(p["value"] for p in snapshot["contact_points"]) == ["+442079460123", "ada@engines.example"]
    assert snapshot["tags"] == ["newsletter", "vip"]
    assert snapshot["note_ids"] == [note_id]
    assert not AuditEntry.objects.filter(
        object_type="customers.customer", object_id=str(duplicate_id)
    ).exists()
    history = list(
        AuditEntry.objects.filter(object_type="customers.customer", object_id=str(survivor.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert history == ["customer.create", "customer.create", "customer.merge"]
    merge_entry = AuditEntry.objects.get(action="customer.merge")
    assert merge_entry.actor == supervisor
    assert merge_entry.data["merged_customer_id"] == duplicate_id


def test_merge_moves_earlier_merge_records_of_the_duplicate(supervisor: User, agent: User) -> None:
    survivor, duplicate = _pair(agent)
    third = customer_create(actor=agent, first_name="A.", last_name="Lovelace")
    first_record = customer_merge(actor=supervisor, survivor=duplicate, duplicate=third)

    customer_merge(actor=supervisor, survivor=survivor, duplicate=duplicate)

    first_record.refresh_from_db()
    assert first_record.survivor_id == survivor.pk
    assert MergeRecord.objects.filter(survivor=survivor).count() == 2


def test_merge_sends_signal_inside_transaction_before_deleting(supervisor: User, agent: User) -> None:
    survivor, duplicate = _pair(agent)
    seen: list[dict[str, Any]] = []

    def receiver(sender: type, **kwargs: Any) -> None:
        seen.append(
            {
                "survivor_id": kwargs["survivor_id"],
                "duplicate_id": kwargs["duplicate_id"],
                "duplicate_still_exists": Customer.objects.filter(pk=kwargs["duplicate_id"]).exists(),
            }
        )

    customer_merged.connect(receiver)
    try:
        customer_merge(actor=supervisor, survivor=survivor, duplicate=duplicate)
    finally:
        customer_merged.disconnect(receiver)

    assert seen == [
        {"survivor_id": survivor.pk, "duplicate_id": duplicate.pk, "duplicate_still_exists": True}
    ]


def test_failing_receiver_rolls_the_whole_merge_back(supervisor: User, agent: User) -> None:
    survivor, duplicate = _pair(agent)

    def receiver(sender: type, **kwargs: Any) -> None:
        raise RuntimeError("interactions could not move")

    customer_merged.connect(receiver)
    try:
        with pytest.raises(RuntimeError):
            customer_merge(actor=supervisor, survivor=survivor, duplicate=duplicate)
    finally:
        customer_merged.disconnect(receiver)

    assert Customer.objects.filter(pk=duplicate.pk).exists()
    assert ContactPoint.objects.filter(customer=duplicate).count() == 2
    assert MergeRecord.objects.count() == 0


def test_agent_may_not_merge_and_nothing_changes(agent: User) -> None:
    survivor, duplicate = _pair(agent)

    with pytest.raises(NotAllowed):
        customer_merge(actor=agent, survivor=survivor, duplicate=duplicate)

    assert Customer.objects.filter(pk=duplicate.pk).exists()
    assert ContactPoint.objects.filter(customer=survivor).count() == 2
    assert MergeRecord.objects.count() == 0
    assert not AuditEntry.objects.filter(action="customer.merge").exists()


def test_merge_refuses_same_customer_and_erased_customers(supervisor: User, agent: User) -> None:
    survivor, duplicate = _pair(agent)

    with pytest.raises(MergeNotAllowed, match="itself"):
        customer_merge(actor=supervisor, survivor=survivor, duplicate=survivor)

    customer_erase(actor=None, customer=duplicate)
    with pytest.raises(MergeNotAllowed, match="erased"):
        customer_merge(actor=supervisor, survivor=survivor, duplicate=duplicate)
    assert Customer.objects.filter(pk=duplicate.pk).exists()


def test_system_merge_without_actor(agent: User) -> None:
    survivor, duplicate = _pair(agent)

    record = customer_merge(actor=None, survivor=survivor, duplicate=duplicate)

    assert record.merged_by is None
    assert AuditEntry.objects.get(action="customer.merge").actor is None


def test_duplicate_primary_wins_when_survivor_has_none_of_that_kind(supervisor: User, agent: User) -> None:
    survivor = customer_create(
        actor=agent, first_name="Grace", contacts=[ContactInput(kind="email", value="g@x.example")]
    )
    duplicate = customer_create(
        actor=agent, first_name="Grace", contacts=[ContactInput(kind="phone", value="+14155550199")]
    )
    customer_update(actor=agent, customer=survivor, time_zone="Europe/Paris")

    customer_merge(actor=supervisor, survivor=survivor, duplicate=duplicate)

    assert sorted(ContactPoint.objects.filter(customer=survivor).values_list("kind", "is_primary")) == [
        ("email", True),
        ("phone", True),
    ]
    survivor.refresh_from_db()
    assert survivor.time_zone == "Europe/Paris"
    assert Tag.objects.count() == 0
