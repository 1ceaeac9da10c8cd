from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.apps import apps
from django.db.models import CharField, JSONField, TextField

from apps.accounts.models import User
from apps.core.actors import SYSTEM, SystemActor
from apps.core.exceptions import NotAllowed
from apps.core.models import AuditEntry
from apps.customers.models import (
    ContactPoint,
    Customer,
    CustomFieldDefinition,
    ErasedContact,
    MergeRecord,
    Note,
)
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
from apps.interactions.services import (
    interaction_accept,
    interaction_call_progress,
    interaction_conference_add,
    interaction_end,
    interaction_enqueue,
    interaction_note_set,
    interaction_originate,
    interaction_wrap_up,
    message_add,
)
from tests.interactions.factories import make_agent, make_queue

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


def test_system_may_erase_and_is_named_and_none_is_refused(agent: User) -> None:
    customer = _customer(agent)

    with pytest.raises(NotAllowed):
        customer_erase(actor=None, customer=customer)  # type: ignore[arg-type]
    assert Customer.objects.get(pk=customer.pk).is_erased is False

    customer_erase(actor=SystemActor("retention job"), customer=customer)

    entry = AuditEntry.objects.get(action="customer.erase")
    assert (entry.actor, entry.data["system"]) == (None, "retention job")
    assert Customer.objects.get(pk=customer.pk).is_erased is True


def test_failing_erasure_receiver_rolls_the_erasure_back(supervisor: User, agent: User) -> None:
    customer = _customer(agent)

    def failing(sender: type, **kwargs: Any) -> None:
        raise RuntimeError("surveys could not scrub")

    customer_erased.connect(failing)
    try:
        with pytest.raises(RuntimeError, match="surveys"):
            customer_erase(actor=supervisor, customer=customer)
    finally:
        customer_erased.disconnect(failing)

    row = Customer.objects.get(pk=customer.pk)
    assert (row.first_name, row.is_erased) == ("Ada", False)
    assert ContactPoint.objects.filter(customer=customer).count() == 2
    assert ErasedContact.objects.count() == 0


# --- Erasure leaves no personal data anywhere: every text of every installed model is walked ---

PHONE = "+442079460777"
SECOND_PHONE = "+447911123456"
EMAIL = "zebulon.quaxley@mail.example"
HANDLE = "zquaxley_tunes"
# Lower-case needles looked for in every text; phone numbers by their national digits, in any
# text with its non-digits removed ("020 7946 0777", "+44 20 7946 0777", "442079460777").
WORDS = (
    "zebulon",
    "quaxley",
    HANDLE,
    "harpsichord",
    "pedal squeak",
    "zq-ext-4242",
    "zq-platinum",
    "zq-consent",
)
DIGITS = ("2079460777", "7911123456")
# Holds only keyed hashes of erased contact points: the one place allowed to know them.
REGISTER = {ErasedContact}


def _person_on_every_channel(agent: User) -> Customer:
    """Zebulon Quaxley, known by name, phone, email and Instagram handle, with a note, consent,
    a chat (messages both ways, an attachment, notes, a subject) and an outbound call (a
    subject, the gateway's progress detail, a second number conferenced in, wrap-up notes)."""
    CustomFieldDefinition.objects.create(key="plan", label="Plan")
    customer = customer_create(
        actor=agent,
        first_name="Zebulon",
        last_name="Quaxley",
        job_title="Harpsichord tuner",
        external_id="zq-ext-4242",
        contacts=[
            ContactInput(kind="phone", value="+44 20 7946 0777"),
            ContactInput(kind="email", value="Zebulon.Quaxley@mail.example"),
            ContactInput(kind="social", network="instagram", value="@ZQuaxley_Tunes"),
        ],
        custom_fields={"plan": "zq-platinum"},
    )
    contact_point_set_consent(
        actor=agent,
        contact_point=customer.contact_points.get(kind="phone"),
        consent="sms_opt_in",
        value=True,
        source="zq-consent web form",
    )
    note_add(actor=agent, customer=customer, body="Zebulon's harpsichord needs re-stringing")
    # Audited with its value.
    contact_point_add(
        actor=agent, customer=customer, contact=ContactInput(kind="email", value="zq@quaxley-tuning.example")
    )

    queue = make_queue(channels=["chat", "voice"], disposition_required=False)
    desk = make_agent(queue, username="desk-agent", capacity={"chat": 1, "voice": 1})
    desk_user = desk.user
    chat = interaction_enqueue(
        queue=queue,
        channel="chat",
        contact="Zebulon.Quaxley@mail.example",
        subject="Zebulon: pedal squeak",
        actor=SYSTEM,
    )
    assert chat.customer_id == customer.pk and chat.agent_id == desk.pk
    interaction_accept(actor=desk_user, interaction_id=chat.pk)
    message_add(
        actor=SYSTEM,
        interaction_id=chat.pk,
        body="Hi, Zebulon Quaxley here: the pedal squeak is back",
        direction="inbound",
        sender="Zebulon Quaxley",
        attachments=[{"name": "zquaxley_tunes-pedal.jpg", "url": "https://files.example/zquaxley.jpg"}],
        provider="webchat",
        provider_id="zquaxley-msg-1",
    )
    message_add(actor=desk_user, interaction_id=chat.pk, body="Hello Zebulon, a tuner will call you")
    interaction_note_set(actor=desk_user, interaction_id=chat.pk, notes="Quaxley wants Tuesday visits")
    interaction_end(actor=desk_user, interaction_id=chat.pk)
    interaction_wrap_up(
        actor=desk_user, interaction_id=chat.pk, disposition=None, notes="Zebulon booked, harpsichord"
    )

    call = interaction_originate(
        actor=desk_user,
        queue=queue,
        to_number=PHONE,
        agent_id=desk.pk,
        caller_id="+14155550188",
        subject="Call Zebulon about the harpsichord",
    )
    assert call.customer_id == customer.pk
    interaction_call_progress(
        actor=SYSTEM, interaction_id=call.pk, outcome="answered", detail="Zebulon Quaxley picked up"
    )
    interaction_conference_add(actor=desk_user, interaction_id=call.pk, to_number=SECOND_PHONE)
    interaction_end(actor=desk_user, interaction_id=call.pk)
    interaction_wrap_up(
        actor=desk_user, interaction_id=call.pk, disposition=None, notes="Spoke to Zebulon on 07911 123456"
    )
    return customer


def _leftovers() -> list[str]:
    """Every text-like value (CharField, TextField, EmailField, JSONField) of every row of every
    installed model, outside the register, that still holds one of the person's values."""
    found = []
    for model in apps.get_models():
        if model in REGISTER:
            continue
        fields = [
            f.attname for f in model._meta.concrete_fields if isinstance(f, CharField | TextField | JSONField)
        ]
        if not fields:
            continue
        for row in model._default_manager.values_list("pk", *fields):
            for name, value in zip(fields, row[1:], strict=True):
                if value is None:
                    continue
                text = (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)).lower()
                digits = re.sub(r"\D", "", text)
                hits = [w for w in WORDS if w in text] + [d for d in DIGITS if d in digits]
                if hits:
                    found.append(f"{model._meta.label_lower}#{row[0]}.{name}: {hits}")
    return found


def test_erasure_leaves_none_of_the_persons_values_in_any_row(supervisor: User, agent: User) -> None:
    # Given a person known on every channel, whose values are spread over many tables
    customer = _person_on_every_channel(agent)
    before = _leftovers()
    tables = {hit.split("#")[0] for hit in before}
    assert {
        "customers.customer",
        "customers.contactpoint",
        "customers.note",
        "core.auditentry",
        "interactions.interaction",
        "interactions.message",
        "interactions.interactionparticipant",
        "interactions.interactionevent",
    } <= tables

    # When they are erased
    customer_erase(actor=supervisor, customer=customer)

    # Then no text of any row outside the register holds any of their values
    assert _leftovers() == []
    # and the register knows each of their contact points
    assert ErasedContact.objects.count() == 4


def test_export_without_actor_is_refused_and_a_system_export_is_named(agent: User) -> None:
    customer = _customer(agent)

    with pytest.raises(NotAllowed):
        customer_export_personal_data(actor=None, customer=customer)  # type: ignore[arg-type]
    assert not AuditEntry.objects.filter(action="customer.gdpr_export").exists()

    data = customer_export_personal_data(actor=SystemActor("access request job"), customer=customer)

    assert data["profile"]["first_name"] == "Ada"
    assert AuditEntry.objects.get(action="customer.gdpr_export").data == {"system": "access request job"}
