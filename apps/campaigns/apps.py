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
        "Agent": ["campaigns.view_campaign"],
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
        from apps.campaigns import desk, outcomes, receivers
        from apps.campaigns.services import lists
        from apps.interactions.desk_sections import register_section, register_side_panel
        from apps.interactions.services import register_dial_check

        # Customer merges and erasures reach the leads and the contact log (inside their transaction).
        receivers.connect()
        # Rows a contact list's import writes become (or update) the list's leads.
        lists.connect()
        # A campaign call's life (accepted, wrapped up, abandoned) moves its attempt and its lead.
        outcomes.connect()
        # The desk: the lead on a campaign call's screen pop, the agent's callbacks, the gate asked
        # again at a preview's dial.
        register_section("campaigns", desk.lead_section)
        register_side_panel("campaigns-callbacks", desk.callbacks_panel)
        register_dial_check("campaigns", desk.preview_dial_check)
