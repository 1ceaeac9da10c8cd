"""Role checks shared by pages and the API, so both enforce the same rule."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import BasePermission

from apps.accounts.roles import Role, has_role


def role_required(*roles: Role) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Page decorator: anonymous users go to login, signed-in users without the role get 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


class HasRole(BasePermission):
    """DRF permission: `permission_classes = [HasRole.of(Role.AGENT, ...)]`."""

    roles: tuple[Role, ...] = ()

    @classmethod
    def of(cls, *roles: Role) -> type[HasRole]:
        return type(f"HasRole_{'_'.join(r.value for r in roles)}", (cls,), {"roles": roles})

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and has_role(request.user, *self.roles))


AGENT_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
"""Roles that work with customers one by one (agent desktop, customer pages)."""
CRM_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.MARKETER, Role.ADMIN)
"""Every role that may read the CRM."""


class RolesByActionMixin:
    """Pick the roles a request needs from the viewset action it maps to.

    A method the route does not serve (GET on a POST-only action, PUT on a detail route) has no
    action; it then needs the roles of every action the route does serve, so a role that may not
    use the route at all is told 403 and only a role that may use it learns the method is wrong (405).
    OPTIONS (DRF's metadata) describes a route to any role that may use one of its methods.
    """

    action_roles: Mapping[str, Iterable[Role]] = {}

    def get_permissions(self) -> list[BasePermission]:
        current = getattr(self, "action", None)
        action_map: Mapping[str, str] = getattr(self, "action_map", {})
        served = [set(self.action_roles[name]) for name in action_map.values()]
        if current == "metadata":
            # OPTIONS (DRF's metadata action) describes the route to whoever may use any of its
            # methods. While it lists the forms of each method, DRF checks permissions again with
            # the request's method swapped for that one: a form is shown only to its users.
            request = getattr(self, "request", None)
            method = request.method.lower() if request is not None and request.method else "options"
            if method in action_map:
                current = action_map[method]
            else:
                wanted = set.union(*served) if served else set()
                return [HasRole.of(*(role for role in Role if role in wanted))()]
        if current is not None:
            wanted = set(self.action_roles[current])
        else:
            wanted = set.intersection(*served) if served else set()
        roles = tuple(role for role in Role if role in wanted)
        return [HasRole.of(*roles)()]
