"""The contact center's part of two customer events: a merge and an erasure.

Both receivers run inside the customers service's transaction (apps.customers.signals): what
they write commits or rolls back with the merge or the erasure, and a receiver that raises
undoes it. Connected in InteractionsConfig.ready().
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models
from django.db.models import F, Q

from apps.interactions import events
from apps.interactions.models import (
    FINISHED_STATUSES,
    Interaction,
    InteractionEvent,
    InteractionParticipant,
    Message,
)

# Event data an erased customer's interactions keep: the texts that are codes of ours (an
# outcome, a disposition code, a monitoring mode, a gateway command), never a number, an
# address, a provider's reason or a note. Numbers, flags, ids and times (ISO strings under
# *_at keys) stay, so reports replay the events as before.
_KEPT_EVENT_TEXT = frozenset(
    {
        "outcome",
        "disposition",
        "mode",
        "previous_mode",
        "role",
        "command",
        "gateway",
        "kind",
        "status",
        "channel",
        "direction",
    }
)


def _scrubbed(data: Any) -> Any:
    """`data` without personal text: strings survive only under _KEPT_EVENT_TEXT and *_at keys."""
    if isinstance(data, dict):
        kept: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, str):
                if key in _KEPT_EVENT_TEXT or key.endswith("_at"):
                    kept[key] = value
            elif isinstance(value, dict | list):
                kept[key] = _scrubbed(value)
            else:
                kept[key] = value
        return kept
    if isinstance(data, list):
        return [_scrubbed(item) for item in data if not isinstance(item, str)]
    return data


def _publish_open(interaction_ids: list[int]) -> None:
    """The desks and the wallboard showing these interactions reload them (after commit)."""
    for interaction in Interaction.objects.filter(pk__in=interaction_ids).exclude(
        status__in=FINISHED_STATUSES
    ):
        events.interaction_changed(interaction)


def on_customer_merged(
    sender: type[models.Model], *, survivor_id: int, duplicate_id: int, **kwargs: Any
) -> None:
    """Every interaction of the duplicate becomes the survivor's, so its calls, chats and
    emails (with their messages, events and participants, which hang off the interaction) stay
    on the survivor's timeline. Open ones get a new version so desks reload who the customer is."""
    moved = list(Interaction.objects.filter(customer_id=duplicate_id).values_list("pk", flat=True))
    if not moved:
        return
    Interaction.objects.filter(pk__in=moved).update(customer_id=survivor_id, version=F("version") + 1)
    _publish_open(moved)


def on_customer_erased(
    sender: type[models.Model], *, customer_id: int, contact_values: Iterable[str] = (), **kwargs: Any
) -> None:
    """Scrub what the contact center holds about the erased customer and keep the rows, so
    statistics still count them: times, durations, statuses, outcomes, dispositions, queue and
    agent stay; the contact as received, the subject, the notes, the caller id shown, every
    message's text, sender, attachments and provider id, the outside numbers on its calls and
    every personal text in its event log go. The same goes for interactions linked to nobody
    whose contact is one of the erased contact points (`contact_values`, normalized: an
    outbound call to the number before it was the customer's)."""
    linked = Q(customer_id=customer_id)
    values = [value for value in contact_values if value]
    if values:
        linked |= Q(customer__isnull=True, contact__in=values)
    ids = list(Interaction.objects.filter(linked).values_list("pk", flat=True))
    if not ids:
        return
    Interaction.objects.filter(pk__in=ids).update(
        contact="", subject="", notes="", caller_id="", version=F("version") + 1
    )
    Message.objects.filter(interaction_id__in=ids).update(
        body="", sender="", attachments=[], provider_id=None
    )
    InteractionParticipant.objects.filter(interaction_id__in=ids).exclude(number="").update(number="")
    changed = []
    for event in InteractionEvent.objects.filter(interaction_id__in=ids).only("pk", "data"):
        scrubbed = _scrubbed(event.data)
        if scrubbed != event.data:
            event.data = scrubbed
            changed.append(event)
    InteractionEvent.objects.bulk_update(changed, ["data"], batch_size=500)
    _publish_open(ids)


def connect() -> None:
    from apps.customers.signals import customer_erased, customer_merged

    customer_merged.connect(on_customer_merged, dispatch_uid="interactions.on_customer_merged")
    customer_erased.connect(on_customer_erased, dispatch_uid="interactions.on_customer_erased")
