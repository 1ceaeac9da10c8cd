"""Celery tasks of the campaigns' call outcomes: thin wrappers over apps.campaigns.outcomes and
apps.campaigns.simulator, idempotent. apps/campaigns/tasks.py imports them so the worker's
autodiscovery registers them; their names stay this module's (beat's entries name them)."""

from __future__ import annotations

from celery import shared_task

from apps.campaigns import outcomes, simulator


@shared_task(acks_late=True, time_limit=30, soft_time_limit=25)
def calls_abandon_unconnected() -> int:
    """Beat, every second: answered campaign calls no agent took within 2 seconds hear the
    abandon message and are hung up (the 2-second rule). A repeated run abandons nothing twice.
    Returns how many were abandoned."""
    return len(outcomes.calls_abandon_unconnected(actor=outcomes.ABANDON_TIMER))


@shared_task(acks_late=True, time_limit=30, soft_time_limit=25)
def simulator_report_due() -> int:
    """Beat, every second, while the built-in voice simulator places the calls: what the
    simulated customers did with the calls whose ring time has passed. Idempotent (each call's
    answer is fixed by the seed and its id). Returns how many calls it reported on."""
    report = simulator.simulator_report_due()
    return report.ringing + sum(report.outcomes.values()) + report.hung_up
