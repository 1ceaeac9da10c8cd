"""The contact center's timers are beat's ticks over what the rows say is due: an offer's timeout
is acted on within a second by offers_expire_due, and routing itself sends no broker message."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.core.actors import SYSTEM
from apps.interactions import services
from apps.interactions.models import Interaction, InteractionStatus
from tests.interactions.factories import make_agent, make_queue


@pytest.mark.django_db
def test_beat_expires_due_offers_every_second_and_the_other_timers_and_the_dial_timer_every_five() -> None:
    schedule = {
        task.task: (task.interval.every, task.interval.period, task.enabled)  # type: ignore[union-attr]
        for task in PeriodicTask.objects.filter(task__startswith="apps.interactions.tasks.")
    }
    assert schedule == {
        "apps.interactions.tasks.offers_expire_due": (1, "seconds", True),
        "apps.interactions.tasks.agents_presence_timeout": (5, "seconds", True),
        "apps.interactions.tasks.wrap_ups_expire_due": (5, "seconds", True),
        "apps.interactions.tasks.queues_overflow_due": (5, "seconds", True),
        "apps.interactions.tasks.dials_expire_due": (5, "seconds", True),
    }


@pytest.mark.django_db(transaction=True)
def test_an_offer_sends_no_broker_message_and_the_tick_expires_it_once_due() -> None:
    queue = make_queue(offer_timeout_seconds=15)
    first = make_agent(queue)
    second = make_agent(queue)
    with mock.patch("celery.app.task.Task.apply_async") as apply_async:
        interaction = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat")
    apply_async.assert_not_called()
    interaction.refresh_from_db()
    assert (interaction.status, interaction.agent_id) == (InteractionStatus.OFFERED, first.pk)
    assert interaction.offer_expires_at is not None
    expires = interaction.offer_expires_at

    from apps.interactions import tasks

    assert tasks.offers_expire_due() == 0  # not due yet
    with mock.patch("django.utils.timezone.now", return_value=expires + dt.timedelta(milliseconds=1)):
        assert tasks.offers_expire_due() == 1
    assert tasks.offers_expire_due() == 0  # once
    interaction = Interaction.objects.get(pk=interaction.pk)
    assert (interaction.status, interaction.agent_id) == (InteractionStatus.OFFERED, second.pk)
    assert interaction.offer_expires_at is not None and interaction.offer_expires_at > timezone.now()
