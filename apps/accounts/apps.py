from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts"
    role_permissions = {
        "Supervisor": ["accounts.view_user"],
    }

    def ready(self) -> None:
        # post_migrate is sent once per app, after that app's permissions are created; granting
        # on every send is idempotent and the last send sees every app's permissions.
        post_migrate.connect(_sync_after_migrate, dispatch_uid="accounts.role_permissions_sync")


def _sync_after_migrate(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    from apps.accounts.services import role_permissions_sync

    role_permissions_sync(using=using)
