"""The contact center's entries on the customer timeline: every interaction, on every channel,
with its outcome, as far as the viewer's role may read it (the API's rule). Registered from
InteractionsConfig.ready(), so customers never imports us."""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef
from django.urls import reverse

from apps.accounts.models import User
from apps.accounts.roles import Role, has_role
from apps.customers.models import Customer
from apps.customers.timeline import TimelineEntry, register_source
from apps.interactions import selectors
from apps.interactions.models import Channel, Direction, Interaction, InteractionStatus

CHANNEL_ICONS = {
    Channel.VOICE: "☎",
    Channel.VIDEO: "▶",
    Channel.CHAT: "❝",
    Channel.SMS: "✉",
    Channel.WHATSAPP: "❝",
    Channel.SOCIAL: "#",
    Channel.EMAIL: "@",
}


def _title(interaction: Interaction) -> str:
    channel = Channel(interaction.channel).label
    direction = "inbound" if interaction.direction == Direction.INBOUND else "outbound"
    status = InteractionStatus(interaction.status).label.lower()
    queue = f" · {interaction.queue.name}" if interaction.queue else ""
    return f"{channel} ({direction}){queue} · {status}"


def _body(interaction: Interaction) -> str:
    parts = []
    if interaction.subject:
        parts.append(interaction.subject)
    if interaction.disposition:
        parts.append(f"Disposition: {interaction.disposition.label}")
    if interaction.notes:
        parts.append(interaction.notes)
    return " — ".join(parts)


def _full(interaction: Interaction) -> TimelineEntry:
    """The interaction as a viewer who may open it sees it: queue, outcome, subject, disposition,
    notes, agent and a link to it on the desk."""
    return TimelineEntry(
        at=interaction.created_at,
        kind="interaction",
        title=_title(interaction),
        body=_body(interaction),
        actor=str(interaction.agent.user) if interaction.agent else "",
        url=reverse("interactions:desk") + f"?open={interaction.pk}",
        icon=CHANNEL_ICONS.get(Channel(interaction.channel), "•"),
        key=f"interaction-{interaction.pk}",
    )


def _contact(interaction: Interaction) -> TimelineEntry:
    """The interaction as a viewer who may not open it sees it: that a contact happened, on which
    channel and when; no queue, outcome, subject, notes, messages, disposition, agent or link."""
    channel = Channel(interaction.channel).label
    direction = "inbound" if interaction.direction == Direction.INBOUND else "outbound"
    return TimelineEntry(
        at=interaction.created_at,
        kind="contact",
        title=f"{channel} contact ({direction})",
        icon=CHANNEL_ICONS.get(Channel(interaction.channel), "•"),
        key=f"interaction-{interaction.pk}",
    )


def interactions_source(
    customer: Customer, viewer: User, before: dt.datetime | None, limit: int
) -> list[TimelineEntry]:
    """The customer's interactions, as the interactions API would show them to `viewer`
    (selectors.interactions_visible_to): supervisors and admins read every one in full, agents
    those they may open (their own, their queues') in full and the others as a bare contact;
    every other role (a marketer) sees only that contacts happened. One query."""
    queryset = Interaction.objects.filter(customer=customer).order_by("-created_at", "-id")
    if before is not None:
        queryset = queryset.filter(created_at__lt=before)
    if has_role(viewer, Role.SUPERVISOR, Role.ADMIN):
        rows = queryset.select_related("queue", "agent__user", "disposition")[:limit]
        return [_full(interaction) for interaction in rows]
    if has_role(viewer, Role.AGENT):
        visible = selectors.interactions_visible_to(user=viewer).filter(pk=OuterRef("pk"))
        rows = queryset.select_related("queue", "agent__user", "disposition").annotate(
            may_open=Exists(visible)
        )[:limit]
        return [_full(i) if i.may_open else _contact(i) for i in rows]
    # What a bare contact needs, and nothing it must not show.
    rows = queryset.only("pk", "channel", "direction", "created_at")[:limit]
    return [_contact(interaction) for interaction in rows]


def register() -> None:
    register_source("interactions", interactions_source)
