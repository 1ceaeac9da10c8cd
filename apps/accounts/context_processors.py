from __future__ import annotations

from django.http import HttpRequest

from apps.accounts.roles import Role, primary_role, roles_of


def role(request: HttpRequest) -> dict[str, object]:
    """Expose the signed-in user's roles to templates (navigation shows only what they may open)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"user_roles": frozenset(), "user_role": None, "Role": Role}
    return {"user_roles": {r.value for r in roles_of(user)}, "user_role": primary_role(user), "Role": Role}
