"""Contact list pages: upload a CSV/XLSX as a new list through the customers import, in its two
steps (the file and the list's settings, then the columns matched to customer fields, suggested
as the customer import suggests them), then follow its import's progress and read the rejected
rows. Thin: apps.campaigns.services.lists does the work."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from apps.campaigns.forms import ListUploadForm, SegmentForm
from apps.campaigns.models import Campaign, CampaignStatus, ContactList
from apps.campaigns.segments import InvalidSegment, contact_list_create_from_segment
from apps.campaigns.services.lists import contact_list_create_from_upload
from apps.campaigns.views.campaigns import MANAGE_ROLES, READ_ROLES, _user
from apps.core.exceptions import DomainError, NotAllowed
from apps.core.permissions import role_required
from apps.customers.custom_fields import active_definitions
from apps.customers.importing.fields import known_fields
from apps.customers.services.imports import (
    import_jobs_visible_to,
    import_preview_rows,
    import_read_headers,
    import_suggest_mapping,
)

# The upload waiting for its columns to be matched (the list is created only when the marketer
# starts the import).
SESSION_KEY = "campaign_list_upload"


def _field_choices() -> list[tuple[str, str]]:
    keys = [definition.key for definition in active_definitions()]
    return [("", "— skip this column —"), *((name, name) for name in known_fields(keys))]


def _mapping_context(
    pending: dict[str, Any], by_header: dict[str, str], problems: list[str] | None = None
) -> dict[str, Any]:
    """The mapping step; `by_header` is the field chosen (or suggested) for each column."""
    with default_storage.open(pending["path"], "rb") as handle:
        handle.name = pending["file_name"]
        headers = import_read_headers(uploaded_file=handle)
        preview = import_preview_rows(uploaded_file=handle)
    columns = [
        {
            "index": index,
            "header": header,
            "field": by_header.get(header, ""),
            "appointment": bool(pending["appointment_field"]) and header == pending["appointment_field"],
            "samples": [row[index] for row in preview if index < len(row) and row[index]][:3],
        }
        for index, header in enumerate(headers)
    ]
    campaign = None
    if pending["campaign_id"] is not None:
        campaign = Campaign.objects.filter(pk=pending["campaign_id"]).first()
    return {
        "stage": "map",
        "pending": pending,
        "campaign": campaign,
        "columns": columns,
        "choices": _field_choices(),
        "problems": problems or [],
    }


def _store(request: HttpRequest, upload: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Keep the file and the list's settings between the two steps."""
    file_name = os.path.basename(upload.name)
    path = default_storage.save(f"imports/pending/{uuid.uuid4().hex}-{file_name}", upload)
    campaign = data["campaign"]
    pending = {
        "path": path,
        "file_name": file_name,
        "name": data["name"],
        "default_region": data["default_region"],
        "campaign_id": campaign.pk if campaign is not None else None,
        "priority": data["priority"],
        "weight": data["weight"],
        "appointment_field": data["appointment_field"] or "",
        "remind_hours_before": data["remind_hours_before"],
    }
    previous = request.session.get(SESSION_KEY)
    if previous and previous.get("path") != path:
        default_storage.delete(previous["path"])
    request.session[SESSION_KEY] = pending
    return pending


@role_required(*MANAGE_ROLES)
@require_http_methods(["GET", "POST"])
def list_upload(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and request.POST.get("step") == "start":
        return _start(request)
    initial: dict[str, Any] = {}
    if request.GET.get("campaign", "").isdigit():
        initial["campaign"] = int(request.GET["campaign"])
    form = ListUploadForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        upload = data["file"]
        try:
            headers = import_read_headers(uploaded_file=upload)
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error("file", message)
        else:
            appointment_field = data["appointment_field"] or ""
            if appointment_field and appointment_field not in headers:
                form.add_error(
                    "appointment_field",
                    f"the file has no column {appointment_field!r} (its columns: {', '.join(headers)}).",
                )
            else:
                pending = _store(request, upload, data)
                # The appointment column stays unmapped: each lead keeps it as its own field.
                suggested = {
                    header: field
                    for field, header in import_suggest_mapping(headers).items()
                    if header != appointment_field
                }
                return render(request, "campaigns/list_upload.html", _mapping_context(pending, suggested))
    status = 400 if request.method == "POST" else 200
    return render(request, "campaigns/list_upload.html", {"stage": "upload", "form": form}, status=status)


def _start(request: HttpRequest) -> HttpResponse:
    """The second step: the columns as matched, the list created and its import started."""
    pending = request.session.get(SESSION_KEY)
    if not pending or not default_storage.exists(pending["path"]):
        messages.error(request, "The uploaded file has expired; upload it again.")
        return redirect("campaigns:list-upload")
    campaign = None
    if pending["campaign_id"] is not None:
        campaign = Campaign.objects.filter(pk=pending["campaign_id"]).first()
        if campaign is None or campaign.status == CampaignStatus.COMPLETED:
            messages.error(
                request, "The campaign chosen for this list is gone or completed; choose another one."
            )
            return redirect("campaigns:list-upload")
    try:
        with default_storage.open(pending["path"], "rb") as handle:
            handle.name = pending["file_name"]
            headers = import_read_headers(uploaded_file=handle)
    except ValidationError as exc:
        default_storage.delete(pending["path"])
        del request.session[SESSION_KEY]
        for message in exc.messages:
            messages.error(request, message)
        return redirect("campaigns:list-upload")
    mapping: dict[str, str] = {}
    chosen: dict[str, str] = {}  # shown again as chosen when the import refuses the mapping
    problems: list[str] = []
    for index, header in enumerate(headers):
        field = request.POST.get(f"column_{index}", "")
        if not field:
            continue
        chosen[header] = field
        if field in mapping:
            problems.append(f"{field} is chosen for both {mapping[field]!r} and {header!r}.")
            continue
        mapping[field] = header
    if not problems:
        try:
            with default_storage.open(pending["path"], "rb") as handle:
                handle.name = pending["file_name"]
                contact_list = contact_list_create_from_upload(
                    actor=_user(request),
                    name=pending["name"],
                    uploaded_file=handle,
                    mapping=mapping,
                    default_region=pending["default_region"],
                    campaign=campaign,
                    priority=pending["priority"],
                    weight=pending["weight"],
                    appointment_field=pending["appointment_field"],
                    remind_hours_before=pending["remind_hours_before"],
                )
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        except ValidationError as exc:  # the import's checks of the file and the mapping
            problems += exc.messages
        except DomainError as exc:  # InvalidContactList: the appointment column mapped, a closed campaign
            problems.append(str(exc).partition(": ")[2] or str(exc))
        else:
            default_storage.delete(pending["path"])
            del request.session[SESSION_KEY]
            messages.success(request, f"List {contact_list.name} is importing.")
            return redirect("campaigns:list-detail", pk=contact_list.pk)
    return render(
        request, "campaigns/list_upload.html", _mapping_context(pending, chosen, problems), status=400
    )


@role_required(*MANAGE_ROLES)
@require_http_methods(["GET", "POST"])
def segment_create(request: HttpRequest) -> HttpResponse:
    """A saved customer segment (tags, lifecycle stages, custom fields) as a contact list, attached
    to a campaign at once when one is chosen (a lead for each customer it selects now)."""
    initial: dict[str, Any] = {}
    if request.GET.get("campaign", "").isdigit():
        initial["campaign"] = int(request.GET["campaign"])
    form = SegmentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            contact_list = contact_list_create_from_segment(
                actor=_user(request),
                name=data["name"],
                filters=form.filters(),
                campaign=data["campaign"],
                priority=data["priority"],
                weight=data["weight"],
            )
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        except InvalidSegment as exc:
            form.add_segment_error(str(exc))
        except DomainError as exc:  # InvalidContactList names its field
            form.add_segment_error(str(exc))
        else:
            leads = contact_list.lead_count
            messages.success(
                request,
                f"Segment {contact_list.name} saved"
                + (
                    f": {leads} lead{'s' if leads != 1 else ''} for {data['campaign'].name}."
                    if data["campaign"]
                    else "."
                ),
            )
            return redirect("campaigns:list-detail", pk=contact_list.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "campaigns/segment_form.html", {"form": form}, status=status)


@role_required(*READ_ROLES)
@require_GET
def list_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A list, the campaigns it feeds, and its import's progress (the customers import fragment,
    polled until the job is done) with the error report link, when the user may see that job."""
    contact_list = get_object_or_404(ContactList.objects.select_related("import_job"), pk=pk)
    job = None
    if contact_list.import_job_id is not None:
        job = import_jobs_visible_to(request.user).filter(pk=contact_list.import_job_id).first()
    links = contact_list.campaign_links.select_related("campaign").order_by("-priority", "id")
    return render(
        request,
        "campaigns/list_detail.html",
        {
            "contact_list": contact_list,
            "job": job,
            "links": links,
            "filters_text": json.dumps(contact_list.segment_filters, ensure_ascii=False),
        },
    )
