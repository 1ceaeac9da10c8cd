"""Wallboard numbers: waiting, longest wait, service level today, agents; queue position and
estimated wait for the customer-facing side."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.interactions import selectors
from apps.interactions.models import Interaction, InteractionStatus
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db


def test_service_level_counts_answers_within_the_threshold_and_ignores_short_abandons() -> None:
    now = timezone.now().replace(hour=12)
    queue = make_queue(service_level_seconds=20, time_zone="UTC")

    def make(wait: int, *, answered: bool, days_ago: int = 0) -> None:
        queued = now - dt.timedelta(days=days_ago, minutes=30)
        Interaction.objects.create(
            queue=queue,
            channel="chat",
            status=InteractionStatus.CLOSED if answered else InteractionStatus.ABANDONED,
            queued_at=queued,
            accepted_at=queued + dt.timedelta(seconds=wait) if answered else None,
            abandoned_at=None if answered else queued + dt.timedelta(seconds=wait),
        )

    make(5, answered=True)
    make(15, answered=True)
    make(40, answered=True)  # answered late
    make(10, answered=False)  # hung up within the threshold: not counted
    make(60, answered=False)  # abandoned late: counts against
    make(1, answered=True, days_ago=1)  # yesterday
    Interaction.objects.create(queue=queue, channel="chat", queued_at=now - dt.timedelta(seconds=90))
    Interaction.objects.create(queue=queue, channel="chat", queued_at=now - dt.timedelta(seconds=30))

    [stats] = selectors.queue_stats(now=now)

    assert (stats.waiting, stats.longest_wait_seconds) == (2, 90)
    assert (stats.offered_today, stats.answered_today, stats.abandoned_today) == (7, 3, 2)
    assert stats.service_level_percent == 50.0  # 2 in time / (3 answered + 1 late abandon)


def test_queue_position_and_estimated_wait() -> None:
    queue = make_queue()
    make_agent(queue)
    now = timezone.now()
    first = Interaction.objects.create(queue=queue, channel="email", queued_at=now - dt.timedelta(minutes=5))
    urgent = Interaction.objects.create(queue=queue, channel="email", priority=5, queued_at=now)
    last = Interaction.objects.create(queue=queue, channel="email", queued_at=now)

    positions = [selectors.interaction_queue_position(interaction=i) for i in (urgent, first, last)]

    assert [p.position for p in positions if p] == [1, 2, 3]
    assert [p.estimated_wait_seconds for p in positions if p] == [180, 360, 540]
    first.status = InteractionStatus.CLOSED
    assert selectors.interaction_queue_position(interaction=first) is None
