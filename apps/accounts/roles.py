"""The four roles are Groups. Each app declares, on its AppConfig, which permissions each role gets
(`role_permissions = {"Agent": ["app_label.codename", ...]}`); accounts grants them after every
migrate, so accounts never imports the apps above it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from apps.accounts.models import User


class Role(StrEnum):
    AGENT = "Agent"
    SUPERVISOR = "Supervisor"
    MARKETER = "Marketer"
    ADMIN = "Admin"


# Where each role lands after login. Admin has the Django admin; the others have their workspace.
ROLE_HOME_URL_NAMES: dict[Role, str] = {
    Role.AGENT: "interactions:desk",
    Role.SUPERVISOR: "interactions:wallboard",
    Role.MARKETER: "campaigns:list",
    Role.ADMIN: "admin:index",
}

# When a user holds several roles, the most privileged decides the landing page.
ROLE_PRECEDENCE: tuple[Role, ...] = (Role.ADMIN, Role.SUPERVISOR, Role.MARKETER, Role.AGENT)


def roles_of(user: User | AnonymousUser) -> frozenset[Role]:
    """The user's roles, cached on the instance (one query per request at most)."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_switchboard_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = frozenset(role for role in Role if role.value in names)
        if user.is_superuser:
            cached = cached | {Role.ADMIN}
        user._switchboard_roles = cached  # type: ignore[union-attr,attr-defined]
    return cached


def primary_role(user: User | AnonymousUser) -> Role | None:
    held = roles_of(user)
    return next((role for role in ROLE_PRECEDENCE if role in held), None)


def has_role(user: User | AnonymousUser, *roles: Role) -> bool:
    return bool(roles_of(user) & set(roles))
