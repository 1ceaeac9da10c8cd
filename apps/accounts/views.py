from __future__ import annotations

import math

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from apps.accounts.forms import LoginForm
from apps.accounts.roles import ROLE_HOME_URL_NAMES, primary_role


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to its workspace; a user without a role is told so instead of a 403."""
    role = primary_role(request.user)
    if role is None:
        return render(request, "accounts/no_role.html", status=403)
    return redirect(ROLE_HOME_URL_NAMES[role])


def lockout_seconds() -> int:
    """How long a locked-out sign-in waits from now. Every failed attempt while locked out starts
    the wait again (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT), and a lockout answer is always
    the answer to such an attempt, so this is exact."""
    return math.ceil(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_message() -> str:
    minutes = math.ceil(lockout_seconds() / 60)
    wait = "1 minute" if minutes == 1 else f"{minutes} minutes"
    return (
        f"Too many failed sign-ins for this username from your address. Try again in {wait}; "
        "each attempt before then starts the wait again. An administrator can unlock it sooner."
    )


def locked_out(request: HttpRequest, *args: object) -> HttpResponse:
    """The answer to a sign-in refused by django-axes (AXES_LOCKOUT_CALLABLE), on the login page
    and the admin's: 429 Too Many Requests, with when to try again in words and in Retry-After.
    axes also passes the refused response and the credentials (in different positions from its
    sync and async middleware); neither is needed here."""
    response = render(request, "accounts/locked_out.html", {"message": lockout_message()}, status=429)
    response["Retry-After"] = str(lockout_seconds())
    return response
