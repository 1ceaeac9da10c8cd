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

        from apps.interactions import signals, timeline

        timeline.register()
        user_logged_out.connect(
            signals.agent_offline_on_logout, dispatch_uid="interactions.agent_offline_on_logout"
        )
        # Customer merges and erasures reach the interactions (inside their transaction).
        from apps.interactions import receivers

        receivers.connect()
