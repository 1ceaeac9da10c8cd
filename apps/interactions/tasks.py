"""Celery tasks of the contact center: thin wrappers over services, idempotent."""

from __future__ import annotations

from celery import shared_task

from apps.interactions import services


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def offers_expire_due() -> int:
    """Beat, every second: offers past their expiry go to the next agent (the offer timer).
    One indexed read when nothing is due; a tick that finds many shares them with the next
    (every expiry locks its rows and is idempotent)."""
    return services.offers_expire_due()


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def agents_presence_timeout() -> int:
    """Beat: agents whose browser is silent past the timeout go offline."""
    return services.agents_presence_timeout()


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def wrap_ups_expire_due() -> int:
    """Beat: wrap-ups past their timer close where no disposition is required."""
    return services.wrap_ups_expire_due()


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def queues_overflow_due() -> int:
    """Beat: interactions past their queue's max wait move to its overflow queue."""
    return services.queues_overflow_due()


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def dials_expire_due() -> int:
    """Beat: outbound calls the connector never reported on end as not answered (their reserved
    agent is freed)."""
    return services.dials_expire_due()
