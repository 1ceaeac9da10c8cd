from __future__ import annotations

from django.apps import AppConfig

_READ = [
    "interactions.view_interaction",
    "interactions.view_message",
    "interactions.view_queue",
    "interactions.view_skill",
    "interactions.view_disposition",
    "interactions.view_dispositionset",
    "interactions.view_notreadyreason",
    "interactions.view_agentprofile",
]


class InteractionsConfig(AppConfig):
    name = "apps.interactions"
    label = "interactions"
    verbose_name = "Contact center"
    role_permissions = {
        "Agent": [*_READ, "interactions.change_interaction", "interactions.add_message"],
        "Supervisor": [
            *_READ,
            "interactions.add_interaction",
            "interactions.change_interaction",
            "interactions.add_message",
            "interactions.change_agentprofile",
            "interactions.view_agentstatechange",
            "interactions.view_interactionevent",
        ],
        "Marketer": [
            "interactions.view_queue",
            "interactions.view_disposition",
            "interactions.view_dispositionset",
        ],
    }

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_save

        from apps.interactions import receivers_accounts, signals, timeline
        from apps.interactions.models import InteractionEvent

        timeline.register()
        user_logged_out.connect(
            receivers_accounts.agent_offline_on_logout, dispatch_uid="interactions.agent_offline_on_logout"
        )
        # The interaction signals of the rows saved one by one (signals.event_saved).
        post_save.connect(
            signals.event_saved, sender=InteractionEvent, dispatch_uid="interactions.event_saved"
        )
        # Customer merges and erasures reach the interactions (inside their transaction).
        from apps.interactions import receivers

        receivers.connect()
