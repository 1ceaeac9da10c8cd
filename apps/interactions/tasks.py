"""Celery tasks of the contact center: thin wrappers over services, idempotent."""

from __future__ import annotations

from celery import shared_task

from apps.interactions import services


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def offer_expire(interaction_id: int, version: int) -> bool:
    """One offer's timeout; a no-op when the offer was accepted, rejected or re-offered."""
    return services.interaction_offer_expire(interaction_id=interaction_id, version=version)


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def offers_expire_due() -> int:
    """Beat's safety net for offer timers a lost task missed."""
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
