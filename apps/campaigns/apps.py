from __future__ import annotations

from django.apps import AppConfig

_READ = [
    "campaigns.view_campaign",
    "campaigns.view_contactlist",
    "campaigns.view_lead",
    "campaigns.view_leadattempt",
    "campaigns.view_dnclist",
    "campaigns.view_contactlog",
    "campaigns.view_retryrule",
]


class CampaignsConfig(AppConfig):
    name = "apps.campaigns"
    label = "campaigns"
    verbose_name = "Outbound campaigns"
    role_permissions = {
        "Agent": ["campaigns.view_campaign", "campaigns.view_lead"],
        "Supervisor": [*_READ, "campaigns.view_dncentry"],
        "Marketer": [
            *_READ,
            "campaigns.view_dncentry",
            "campaigns.add_campaign",
            "campaigns.change_campaign",
            "campaigns.add_contactlist",
            "campaigns.change_contactlist",
            "campaigns.add_lead",
            "campaigns.change_lead",
            "campaigns.add_retryrule",
            "campaigns.change_retryrule",
            "campaigns.delete_retryrule",
            "campaigns.add_campaignlist",
            "campaigns.change_campaignlist",
            "campaigns.delete_campaignlist",
            "campaigns.view_campaignlist",
            "campaigns.add_dnclist",
            "campaigns.change_dnclist",
            "campaigns.add_dncentry",
        ],
    }

    def ready(self) -> None:
        from apps.campaigns import receivers

        # Customer merges and erasures reach the leads and the contact log (inside their transaction).
        receivers.connect()
