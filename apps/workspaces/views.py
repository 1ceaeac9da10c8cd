"""Each role's landing page. Until the contact-center and campaign issues land, each shows the
part of the CRM that role works with today."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from apps.accounts.roles import Role
from apps.core.permissions import role_required
from apps.customers.models import ContactPoint, Customer, ImportJob


@role_required(Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
def desk(request: HttpRequest) -> HttpResponse:
    recent = Customer.objects.select_related("organization").filter(owner_id=request.user.pk)[:10]
    return render(request, "workspaces/desk.html", {"my_customers": recent})


@role_required(Role.SUPERVISOR, Role.ADMIN)
def wallboard(request: HttpRequest) -> HttpResponse:
    since = timezone.now() - dt.timedelta(days=1)
    stats = Customer.objects.aggregate(
        new_today=Count("id", filter=Q(created_at__gte=since)),
        updated_today=Count("id", filter=Q(updated_at__gte=since)),
    )
    dnc_count = ContactPoint.objects.filter(do_not_call=True).count()
    return render(request, "workspaces/wallboard.html", {"stats": stats, "dnc_count": dnc_count})


@role_required(Role.MARKETER, Role.SUPERVISOR, Role.ADMIN)
def campaigns(request: HttpRequest) -> HttpResponse:
    jobs = ImportJob.objects.select_related("created_by")[:10]
    return render(request, "workspaces/campaigns.html", {"import_jobs": jobs})
