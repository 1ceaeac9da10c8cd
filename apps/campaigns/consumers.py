"""The live campaign dashboard's websocket, /ws/campaigns/<id>/: marketers, supervisors and
admins join the campaign's group (apps.campaigns.events.campaign_group) and receive its facts
({kind: "campaign"} and {kind: "campaign_activity"}), forwarded as published. It computes
nothing: the page re-fetches its figures from the server on each event, on every (re)connect,
and on a slow interval, so a lost message costs at most that interval.

Authentication, the role check, group renewal and forwarding are the contact center's
(apps.interactions.consumers): refused sockets are accepted and closed with 4401 (sign in) or
4403 (not for this role); an unknown campaign closes with 4404.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from apps.accounts.roles import Role
from apps.campaigns import events
from apps.campaigns.models import Campaign
from apps.interactions.consumers import _EventConsumer

CLOSE_NOT_FOUND = 4404


def _campaign_exists(campaign_id: int) -> bool:
    return Campaign.objects.filter(pk=campaign_id).exists()


class CampaignConsumer(_EventConsumer):
    roles = (Role.MARKETER, Role.SUPERVISOR, Role.ADMIN)

    def campaign_id(self) -> int:
        return int(self.scope["url_route"]["kwargs"]["campaign_id"])

    def groups_for(self, user: Any) -> list[str]:
        return [events.campaign_group(self.campaign_id())]

    async def on_open(self, user: Any) -> None:
        if not await database_sync_to_async(_campaign_exists)(self.campaign_id()):
            await self.close(code=CLOSE_NOT_FOUND)
