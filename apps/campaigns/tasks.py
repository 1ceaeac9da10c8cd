"""Celery tasks of the campaigns (thin: each calls a service). Celery's autodiscovery reads this
module, so every task module of the app is imported here."""

from __future__ import annotations

from apps.campaigns.tasks_dialer import campaign_tick, campaigns_tick
from apps.campaigns.tasks_sends import campaign_send_tick, sends_tick

__all__ = ["campaign_send_tick", "campaign_tick", "campaigns_tick", "sends_tick"]
