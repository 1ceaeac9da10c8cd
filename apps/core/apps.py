from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"
    role_permissions = {
        "Supervisor": ["core.view_auditentry"],
    }
