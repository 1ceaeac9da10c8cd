"""The compliance report page: each campaign's abandon rate and the gate's refusals by reason
over a window of days, for the people who answer for the campaigns (marketers, supervisors,
admins); CSV for an auditor."""

from __future__ import annotations

import csv

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.accounts.roles import Role
from apps.campaigns.selectors.compliance import WINDOWS, compliance_report
from apps.core.permissions import role_required

READ_ROLES = (Role.MARKETER, Role.SUPERVISOR, Role.ADMIN)


@role_required(*READ_ROLES)
@require_GET
def compliance_report_page(request: HttpRequest) -> HttpResponse:
    raw = request.GET.get("days", "30")
    if not raw.isdigit() or int(raw) not in WINDOWS:
        allowed = ", ".join(str(days) for days in WINDOWS)
        return HttpResponse(f"days: choose one of {allowed}.", status=400, content_type="text/plain")
    report = compliance_report(now=timezone.now(), days=int(raw))
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="compliance-{report.days}-days.csv"'
        writer = csv.writer(response)
        writer.writerow(
            [
                "campaign",
                "status",
                "answered calls",
                "abandoned calls",
                "abandon rate %",
                "cap %",
                "decisions",
                "allowed",
                *[label for _, label in report.rules],
            ]
        )
        for row in report.rows:
            rate = row.abandon_percent
            writer.writerow(
                [
                    _safe(row.campaign.name),
                    row.campaign.status,
                    row.answered,
                    row.abandoned,
                    "" if rate is None else f"{rate:.2f}",
                    f"{row.campaign.max_abandon_percent}",
                    row.decisions,
                    row.allowed,
                    *report.refusal_cells(row),
                ]
            )
        return response
    rows = [(row, report.refusal_cells(row)) for row in report.rows]
    return render(
        request,
        "campaigns/compliance.html",
        {"report": report, "rows": rows, "windows": WINDOWS},
    )


def _safe(text: str) -> str:
    """A cell a spreadsheet would run as a formula starts with a quote instead."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
