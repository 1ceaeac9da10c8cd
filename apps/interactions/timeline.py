"""The contact center's entries on the customer timeline: every interaction, on every channel,
with its outcome. Registered from InteractionsConfig.ready(), so customers never imports us."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse

from apps.customers.models import Customer
from apps.customers.timeline import TimelineEntry, register_source
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


def interactions_source(customer: Customer, before: dt.datetime | None, limit: int) -> list[TimelineEntry]:
    queryset = (
        Interaction.objects.filter(customer=customer)
        .select_related("queue", "agent__user", "disposition")
        .order_by("-created_at", "-id")
    )
    if before is not None:
        queryset = queryset.filter(created_at__lt=before)
    return [
        TimelineEntry(
            at=interaction.created_at,
            kind="interaction",
            title=_title(interaction),
            body=_body(interaction),
            actor=str(interaction.agent.user) if interaction.agent else "",
            url=reverse("interactions:desk") + f"?open={interaction.pk}",
            icon=CHANNEL_ICONS.get(Channel(interaction.channel), "•"),
            key=f"interaction-{interaction.pk}",
        )
        for interaction in queryset[:limit]
    ]


def register() -> None:
    register_source("interactions", interactions_source)
