"""The contact center's part of a customer merge (interactions move to the survivor) and of an
erasure (personal data scrubbed, statistics kept), and inbound contacts from erased persons."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from apps.accounts.models import User
from apps.core.actors import SYSTEM
from apps.customers.models import Customer
from apps.customers.services.customers import ContactInput, customer_create
from apps.customers.services.gdpr import customer_erase
from apps.customers.services.merge import customer_merge
from apps.interactions import events
from apps.interactions.models import (
    Disposition,
    Interaction,
    InteractionEvent,
    InteractionParticipant,
    Message,
)
from apps.interactions.services import (
    interaction_abandon,
    interaction_accept,
    interaction_call_progress,
    interaction_conference_add,
    interaction_end,
    interaction_enqueue,
    interaction_originate,
    interaction_wrap_up,
    message_add,
)
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db

PHONE = "+442079460123"


def _customer(actor: User, first_name: str, phone: str) -> Customer:
    return customer_create(
        actor=actor, first_name=first_name, contacts=[ContactInput(kind="phone", value=phone)]
    )


def _wallboard_hears(action: Callable[[], object]) -> list[dict[str, Any]]:
    """The event payloads a wallboard socket receives while `action` runs and commits. One event
    loop for the whole listen: the Redis layer's connections belong to the loop that made them."""
    layer = get_channel_layer()
    assert layer is not None

    def act() -> None:
        action()
        assert events.flush()

    async def listen() -> list[dict[str, Any]]:
        channel = await layer.new_channel()
        await layer.group_add(events.WALLBOARD_GROUP, channel)
        await sync_to_async(act)()
        payloads: list[dict[str, Any]] = []
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout=0.5)
            except TimeoutError:
                return payloads
            payloads.extend(message["payloads"] if message["type"] == "event.batch" else [message["payload"]])

    return async_to_sync(listen)()


# --- Merge ---


def test_merge_moves_every_interaction_and_bumps_their_version(supervisor: User, agent: User) -> None:
    # Given a duplicate with a queued chat and an abandoned one, and a survivor with its own
    survivor = _customer(agent, "Ada", "+14155550134")
    duplicate = _customer(agent, "Ada", PHONE)
    queue = make_queue(channels=["chat"])
    waiting = interaction_enqueue(queue=queue, channel="chat", customer=duplicate, actor=SYSTEM)
    left = interaction_enqueue(queue=queue, channel="chat", customer=duplicate, actor=SYSTEM)
    left = interaction_abandon(actor=supervisor, interaction_id=left.pk)
    own = interaction_enqueue(queue=queue, channel="chat", customer=survivor, actor=SYSTEM)

    # When they are merged
    customer_merge(actor=supervisor, survivor=survivor, duplicate=duplicate)

    # Then both of the duplicate's are the survivor's, with a new version; the survivor's own is untouched
    rows = {i.pk: (i.customer_id, i.version) for i in Interaction.objects.all()}
    assert rows == {
        waiting.pk: (survivor.pk, waiting.version + 1),
        left.pk: (survivor.pk, left.version + 1),
        own.pk: (survivor.pk, own.version),
    }


def test_merge_tells_the_wallboard_about_open_interactions_after_commit(
    supervisor: User,
    agent: User,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    # Given a duplicate with a queued chat and an abandoned one, and a wallboard listening
    survivor = _customer(agent, "Ada", "+14155550134")
    duplicate = _customer(agent, "Ada", PHONE)
    queue = make_queue(channels=["chat"])
    waiting = interaction_enqueue(queue=queue, channel="chat", customer=duplicate, actor=SYSTEM)
    left = interaction_enqueue(queue=queue, channel="chat", customer=duplicate, actor=SYSTEM)
    left = interaction_abandon(actor=supervisor, interaction_id=left.pk)

    def merge() -> None:
        # When they are merged (and the transaction commits)
        with django_capture_on_commit_callbacks(execute=True):
            customer_merge(actor=supervisor, survivor=survivor, duplicate=duplicate)

    heard = _wallboard_hears(merge)

    # Then the wallboard hears of the open chat's new version only
    got = [(p["kind"], p["id"], p["version"], p["status"]) for p in heard]
    assert got == [("interaction", waiting.pk, waiting.version + 1, "queued")]
    assert left.pk not in {p[1] for p in got}


# --- Erasure ---


def _history() -> dict[str, Any]:
    """A chat (both ways, with an attachment, notes and a disposition) and an outbound call
    (caller id, a progress detail, a second number conferenced in) of one customer."""
    customer = customer_create(
        actor=SYSTEM,
        first_name="Ada",
        contacts=[
            ContactInput(kind="phone", value=PHONE),
            ContactInput(kind="email", value="ada@example.com"),
        ],
    )
    queue = make_queue(channels=["chat", "voice"])
    desk = make_agent(queue, capacity={"chat": 1, "voice": 1})
    owner = desk.user
    resolved = Disposition.objects.create(code="resolved", label="Resolved", category="resolved")
    chat = interaction_enqueue(
        queue=queue, channel="chat", contact="Ada@Example.com", subject="Ada's invoice", actor=SYSTEM
    )
    interaction_accept(actor=owner, interaction_id=chat.pk)
    message_add(
        actor=SYSTEM,
        interaction_id=chat.pk,
        body="It's Ada, my invoice is wrong",
        direction="inbound",
        sender="Ada",
        attachments=[{"name": "invoice-ada.pdf"}],
        provider="webchat",
        provider_id="wamid.ada-1",
    )
    message_add(actor=owner, interaction_id=chat.pk, body="Hello Ada, fixed")
    interaction_end(actor=owner, interaction_id=chat.pk)
    interaction_wrap_up(actor=owner, interaction_id=chat.pk, disposition=resolved, notes="Ada was polite")
    call = interaction_originate(
        actor=owner, queue=queue, to_number=PHONE, agent_id=desk.pk, caller_id="+14155550188", subject="Ada"
    )
    interaction_call_progress(actor=SYSTEM, interaction_id=call.pk, outcome="answered", detail="Ada answered")
    interaction_conference_add(actor=owner, interaction_id=call.pk, to_number="+447911123456")
    interaction_end(actor=owner, interaction_id=call.pk)
    interaction_wrap_up(
        actor=owner, interaction_id=call.pk, disposition=resolved, notes="Ada's husband joined"
    )
    return {"customer": customer, "chat": chat.pk, "call": call.pk, "desk": desk, "disposition": resolved}


_STATISTICS = (
    "channel",
    "direction",
    "status",
    "queue_id",
    "agent_id",
    "disposition_id",
    "call_outcome",
    "created_at",
    "queued_at",
    "offered_at",
    "accepted_at",
    "wrap_up_at",
    "closed_at",
    "hold_seconds",
    "hold_count",
)


def test_erasure_scrubs_the_interactions_and_keeps_what_statistics_need(supervisor: User) -> None:
    # Given a customer's chat and outbound call
    given = _history()
    ids = [given["chat"], given["call"]]
    kept = {i.pk: {f: getattr(i, f) for f in _STATISTICS} for i in Interaction.objects.filter(pk__in=ids)}
    event_shape = list(
        InteractionEvent.objects.order_by("pk").values_list("kind", "from_status", "to_status", "at")
    )

    # When the customer is erased
    customer_erase(actor=supervisor, customer=given["customer"])

    # Then personal fields are empty
    assert (
        sorted(Interaction.objects.values_list("contact", "subject", "notes", "caller_id"))
        == [("", "", "", "")] * 2
    )
    assert list(
        Message.objects.order_by("pk").values_list("body", "sender", "attachments", "provider_id")
    ) == [
        ("", "", [], None),
        ("", "", [], None),
    ]
    assert list(InteractionParticipant.objects.values_list("number", flat=True)) == [""]
    # and statistics, the event log's shape and its codes and ids stay
    after = {i.pk: {f: getattr(i, f) for f in _STATISTICS} for i in Interaction.objects.filter(pk__in=ids)}
    assert after == kept
    assert Interaction.objects.get(pk=given["chat"]).customer_id == given["customer"].pk
    assert (
        list(InteractionEvent.objects.order_by("pk").values_list("kind", "from_status", "to_status", "at"))
        == event_shape
    )
    data = dict(InteractionEvent.objects.values_list("kind", "data"))
    assert data["dialing"] == {"reserved_agent": given["desk"].pk}
    assert data["call_answered"] == {"outcome": "answered"}
    assert data["closed"] == {"disposition": "resolved"}
    gateway = [
        d for kind, d in InteractionEvent.objects.values_list("kind", "data") if kind == "voice_gateway"
    ]
    assert {"gateway": "simulator", "command": "originate"} in gateway
    assert all("number" not in d and "to_number" not in d and "caller_id" not in d for d in gateway)


def test_erasure_leaves_other_customers_interactions_alone(supervisor: User, agent: User) -> None:
    given = _history()
    other = _customer(agent, "Grace", "+14155550134")
    theirs = interaction_enqueue(
        queue=make_queue(channels=["chat"]),
        channel="chat",
        customer=other,
        contact="+14155550134",
        subject="Grace's order",
        actor=SYSTEM,
    )

    customer_erase(actor=supervisor, customer=given["customer"])

    row = Interaction.objects.get(pk=theirs.pk)
    assert (row.contact, row.subject, row.version) == ("+14155550134", "Grace's order", theirs.version)


def test_erasure_scrubs_calls_to_their_number_made_before_it_was_theirs(
    supervisor: User, agent: User
) -> None:
    # Given calls placed to two numbers nobody had yet, then a customer who has the first one
    queue = make_queue(channels=["voice"])
    before = interaction_originate(actor=supervisor, queue=queue, to_number=PHONE, subject="Cold call")
    stranger = interaction_originate(
        actor=supervisor, queue=queue, to_number="+14155550134", subject="Cold call"
    )
    assert (before.customer_id, stranger.customer_id) == (None, None)
    customer = _customer(agent, "Ada", PHONE)

    # When the customer is erased
    customer_erase(actor=supervisor, customer=customer)

    # Then the call to their number keeps no trace of it; the stranger's call is untouched
    assert Interaction.objects.filter(pk=before.pk).values_list("contact", "subject").get() == ("", "")
    assert Interaction.objects.filter(pk=stranger.pk).values_list("contact", "subject").get() == (
        "+14155550134",
        "Cold call",
    )
    assert PHONE[1:] not in str(
        list(InteractionEvent.objects.filter(interaction_id=before.pk).values_list("data"))
    )
    assert Interaction.objects.get(pk=before.pk).customer_id is None


# --- Inbound contacts after erasure ---


def test_an_erased_persons_next_contact_is_anonymous(supervisor: User, agent: User) -> None:
    # Given an erased customer
    erased = customer_erase(actor=supervisor, customer=_customer(agent, "Ada", PHONE))
    customers = Customer.objects.count()
    queue = make_queue(channels=["voice"])

    # When they call again, and when a connector still names their old record
    by_number = interaction_enqueue(queue=queue, channel="voice", contact="+44 20 7946 0123", actor=SYSTEM)
    by_record = interaction_enqueue(
        queue=queue, channel="voice", customer=erased, contact=PHONE, actor=SYSTEM
    )

    # Then the calls wait anonymously, and nobody is created or linked back
    assert (by_number.customer_id, by_record.customer_id) == (None, None)
    assert Interaction.objects.filter(customer=erased).count() == 0
    assert Customer.objects.count() == customers
