"""Celery tasks of the dialer: thin wrappers over apps.campaigns.dialer.tick, idempotent.
apps/campaigns/tasks.py imports them so the worker's autodiscovery registers them; their names
stay this module's (the beat entry of migration 0002 names it)."""

from __future__ import annotations

from celery import shared_task

from apps.campaigns.dialer import tick


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def campaigns_tick() -> dict[str, int]:
    """Beat, every 2 seconds: one tick of every active voice campaign the dialer serves (previews
    queued for the agents of a preview campaign, calls placed for the others; a campaign whose
    tick fails is logged; the others are still ticked). A repeated or overlapping run places no
    call twice: leads are claimed with SKIP LOCKED and each dial re-checks its claim under the
    lead's lock. Returns calls placed or previews queued per campaign id."""
    results = tick.campaigns_tick()
    return {
        str(pk): (result.dialled + result.previewed if result is not None else 0)
        for pk, result in results.items()
    }


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def campaign_tick(campaign_id: int) -> int:
    """One campaign's tick (a supervisor's "dial now", a test of the worker): calls placed or
    previews queued."""
    result = tick.campaign_tick(campaign_id=campaign_id)
    return result.dialled + result.previewed
