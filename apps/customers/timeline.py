"""The customer timeline: one feed of everything that happened with a customer, on any channel.

It is pluggable: each app registers a source, a function that returns the customer's entries
older than a cursor, newest first. customers registers notes and record changes; interactions,
campaigns and surveys register theirs from their own AppConfig.ready() (higher apps plug into
this lower one, never the reverse). The feed merges the sources by time and pages with a cursor.

Every source is given the viewer (the signed-in user reading the feed) and shows only what that
user's roles may read through the API as well: the timeline is no side door. The interactions
source, say, shows a marketer that a contact happened, never its subject, notes or disposition.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from apps.accounts.roles import has_role
from apps.core.exceptions import NotAllowed
from apps.core.permissions import CRM_ROLES
from apps.customers.models import Customer

if TYPE_CHECKING:
    from apps.accounts.models import User


@dataclass(frozen=True, order=True)
class TimelineEntry:
    at: dt.datetime
    kind: str = field(compare=False)
    title: str = field(compare=False)
    body: str = field(default="", compare=False)
    actor: str = field(default="", compare=False)
    url: str = field(default="", compare=False)
    icon: str = field(default="•", compare=False)
    key: str = field(default="", compare=False)


TimelineSource = Callable[[Customer, "User", dt.datetime | None, int], list[TimelineEntry]]
"""source(customer, viewer, before, limit): the customer's newest `limit` entries older than
`before` (None: the newest) that `viewer` may read, newest first, in one query (or a fixed few)."""
_sources: dict[str, TimelineSource] = {}


def register_source(name: str, source: TimelineSource) -> None:
    """Register (or replace) the source called `name`."""
    _sources[name] = source


def registered_sources() -> dict[str, TimelineSource]:
    return dict(_sources)


def customer_timeline(
    customer: Customer, *, viewer: User, before: dt.datetime | None = None, limit: int = 30
) -> list[TimelineEntry]:
    """The newest `limit` entries older than `before` across every source (one query per source),
    as `viewer` may read them. A viewer without a CRM role is refused (NotAllowed)."""
    if not (viewer.is_authenticated and has_role(viewer, *CRM_ROLES)):
        raise NotAllowed("Only signed-in CRM users read a customer's timeline.")
    streams = [source(customer, viewer, before, limit) for source in _sources.values()]
    merged = heapq.merge(*(sorted(s, reverse=True) for s in streams), reverse=True)
    return [entry for _, entry in zip(range(limit), merged, strict=False)]


def _notes(customer: Customer, viewer: User, before: dt.datetime | None, limit: int) -> list[TimelineEntry]:
    """Every CRM role reads a customer's notes (the notes API's rule)."""
    qs = customer.notes.select_related("author").order_by("-created_at", "-id")
    if before is not None:
        qs = qs.filter(created_at__lt=before)
    return [
        TimelineEntry(
            at=note.created_at,
            kind="note",
            title="Note",
            body=note.body,
            actor=str(note.author) if note.author else "",
            icon="✎",
            key=f"note-{note.pk}",
        )
        for note in qs[:limit]
    ]


_AUDIT_TITLES = {
    "customer.create": "Customer created",
    "customer.update": "Details changed",
    "customer.merge": "Duplicate merged in",
    "customer.import": "Imported",
    "contact_point.add": "Contact point added",
    "contact_point.remove": "Contact point removed",
    "contact_point.update": "Contact point changed",
    "consent.do_not_call": "Do-not-call changed",
    "consent.email_opt_out": "Email opt-out changed",
    "consent.sms_opt_in": "SMS opt-in changed",
    "customer.gdpr_export": "Personal data exported",
    "customer.erase": "Personal data erased",
    "customer.tag": "Tagged",
}


def _record_changes(
    customer: Customer, viewer: User, before: dt.datetime | None, limit: int
) -> list[TimelineEntry]:
    """Every CRM role reads the customer's record, so its history too."""
    from apps.core.models import AuditEntry

    qs = AuditEntry.objects.select_related("actor").filter(
        object_type="customers.customer", object_id=str(customer.pk), action__in=list(_AUDIT_TITLES)
    )
    if before is not None:
        qs = qs.filter(at__lt=before)
    entries = []
    for entry in qs.order_by("-at", "-id")[:limit]:
        detail = ""
        if entry.action == "customer.update":
            detail = ", ".join(entry.data.get("fields", []))
        elif entry.action.startswith("consent."):
            detail = f"{'on' if entry.data.get('value') else 'off'} ({entry.data.get('source', '')})"
        elif entry.action == "customer.merge":
            detail = f"Customer #{entry.data.get('merged_customer_id')} merged into this one"
        entries.append(
            TimelineEntry(
                at=entry.at,
                kind="change",
                title=_AUDIT_TITLES[entry.action],
                body=detail,
                actor=str(entry.actor) if entry.actor else "system",
                icon="↻",
                key=f"audit-{entry.pk}",
            )
        )
    return entries


def register_builtin_sources() -> None:
    register_source("customers.notes", _notes)
    register_source("customers.changes", _record_changes)
