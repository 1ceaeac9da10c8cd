"""The marketers' landing page, until the campaigns app takes it over. The agent desk and the
supervisor wallboard moved to apps.interactions."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts.roles import Role
from apps.core.permissions import role_required
from apps.customers.services.imports import import_jobs_visible_to


@role_required(Role.MARKETER, Role.SUPERVISOR, Role.ADMIN)
def campaigns(request: HttpRequest) -> HttpResponse:
    jobs = import_jobs_visible_to(request.user)[:10]
    return render(request, "workspaces/campaigns.html", {"import_jobs": jobs})
