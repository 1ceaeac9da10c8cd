"""Real-time facts of the campaigns, published after commit like the contact center's
(apps.interactions.events): {kind: "campaign", id, version, status}. Groups: "campaign.<id>"
(that campaign's live dashboard) and "campaigns" (the marketers' list). The dashboard re-fetches
its figures when it receives one; nothing depends on a message arriving."""

from __future__ import annotations

from apps.campaigns.models import Campaign
from apps.interactions.events import publish

CAMPAIGNS_GROUP = "campaigns"


def campaign_group(campaign_id: int) -> str:
    return f"campaign.{campaign_id}"


def campaign_changed(campaign: Campaign) -> None:
    """The campaign's settings or status changed."""
    publish(
        [CAMPAIGNS_GROUP, campaign_group(campaign.pk)],
        {"kind": "campaign", "id": campaign.pk, "version": campaign.version, "status": campaign.status},
    )


def campaign_activity(campaign_id: int) -> None:
    """Something its figures count happened (a dial, an answer, a disposition, a send): the
    dashboard refreshes. Several in one transaction are sent once."""
    publish([campaign_group(campaign_id)], {"kind": "campaign_activity", "id": campaign_id})
