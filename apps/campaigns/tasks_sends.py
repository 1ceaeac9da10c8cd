"""Celery tasks of SMS and email campaigns: thin wrappers over apps.campaigns.services.sends,
idempotent (a tick locks its campaign; a repeated one finds its bucket spent)."""

from __future__ import annotations

from celery import shared_task

from apps.campaigns.services import sends


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def sends_tick() -> int:
    """Beat, every SEND_TICK_SECONDS (2 s): one send tick for every active SMS and email
    campaign, then fail the queued sends that never reported back. Returns the messages queued."""
    queued = 0
    for campaign_id in sends.active_message_campaign_ids():
        queued += sends.campaign_send_tick(campaign_id=campaign_id).queued
    sends.sends_expire_stale()
    return queued


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def campaign_send_tick(campaign_id: int) -> int:
    """One campaign's send tick (a marketer's "send now", a test). Returns the messages queued."""
    return sends.campaign_send_tick(campaign_id=campaign_id).queued
