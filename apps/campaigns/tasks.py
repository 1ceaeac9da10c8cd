"""Celery tasks of the campaigns (thin: each calls a service). Celery's autodiscovery reads this
module, so every task module of the app is imported here."""

from __future__ import annotations

from apps.campaigns.tasks_dialer import campaign_tick, campaigns_tick
from apps.campaigns.tasks_outcomes import calls_abandon_unconnected, simulator_report_due
from apps.campaigns.tasks_sends import campaign_send_tick, sends_tick

__all__ = [
    "calls_abandon_unconnected",
    "campaign_send_tick",
    "campaign_tick",
    "campaigns_tick",
    "simulator_report_due",
    "sends_tick",
]
