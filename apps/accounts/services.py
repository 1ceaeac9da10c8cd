"""Writes of the accounts app: role permissions, role assignment, API tokens and the sign-in
failure count."""

from __future__ import annotations

from collections.abc import Iterable

from axes.utils import reset as axes_reset
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from apps.accounts.authentication import token_is_expired
from apps.accounts.models import User
from apps.accounts.roles import Role


def declared_role_permissions() -> dict[Role, set[str]]:
    """Collect `role_permissions` from every installed AppConfig ("app_label.codename" strings)."""
    declared: dict[Role, set[str]] = {role: set() for role in Role}
    for config in django_apps.get_app_configs():
        for role_name, perms in getattr(config, "role_permissions", {}).items():
            declared[Role(role_name)].update(perms)
    return declared


def role_permissions_sync(*, using: str = "default") -> None:
    """Give each role Group exactly its declared permissions; Admin gets every permission.

    Idempotent; runs after every migrate. Permissions that do not exist yet (an app whose
    post_migrate has not run) are granted on a later call.
    """
    declared = declared_role_permissions()
    all_perms = list(Permission.objects.using(using).select_related("content_type"))
    by_name = {f"{p.content_type.app_label}.{p.codename}": p for p in all_perms}
    with transaction.atomic(using=using):
        for role in Role:
            group, _ = Group.objects.using(using).get_or_create(name=role.value)
            if role is Role.ADMIN:
                wanted: Iterable[Permission] = all_perms
            else:
                wanted = [by_name[name] for name in sorted(declared[role]) if name in by_name]
            group.permissions.set(list(wanted))


@transaction.atomic
def user_set_roles(*, user: User, roles: Iterable[Role]) -> User:
    """Replace the user's roles. Admins get staff status (the Django admin is their home)."""
    role_set = set(roles)
    groups = list(Group.objects.filter(name__in=[r.value for r in role_set]))
    user.groups.set(groups)
    user.is_staff = Role.ADMIN in role_set or user.is_superuser
    user.save(update_fields=["is_staff"])
    if hasattr(user, "_switchboard_roles"):
        del user._switchboard_roles
    return user


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str,
    roles: Iterable[Role] = (),
    first_name: str = "",
    last_name: str = "",
    email: str = "",
) -> User:
    user = User.objects.create_user(
        username=username, password=password, first_name=first_name, last_name=last_name, email=email
    )
    return user_set_roles(user=user, roles=roles)


@transaction.atomic
def token_issue(*, user: User) -> Token:
    """The user's API token: the current one while it is valid, a new one once it has expired
    (settings.API_TOKEN_TTL). Locks the user's row, so two sign-ins at the same moment cannot
    both replace an expired token (a user has one token)."""
    list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
    token = Token.objects.filter(user=user).first()
    if token is not None and not token_is_expired(token, now=timezone.now()):
        return token
    if token is not None:
        token.delete()
    return Token.objects.create(user=user)


def sign_in_failures_reset(*, username: str, ip_address: str | None) -> int:
    """Forget the failed sign-ins counted for this username from this address (django-axes),
    as a successful sign-in does; returns how many records went. The login page gets this from
    axes itself (user_logged_in); the API token endpoint signs nobody into a session, so it
    calls this."""
    if ip_address is None:
        return 0
    return axes_reset(ip=ip_address, username=username)
