from __future__ import annotations

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
