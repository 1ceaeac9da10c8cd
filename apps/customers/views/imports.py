"""Import and export pages: upload, map columns, follow progress, download the error report;
CSV export of the customer list with its filters. Thin: the services hold the rules."""

from __future__ import annotations

import os
import uuid
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.core.exceptions import NotAllowed
from apps.core.permissions import role_required
from apps.customers.custom_fields import active_definitions
from apps.customers.importing.fields import known_fields
from apps.customers.models import ImportJob
from apps.customers.selectors import customer_filter
from apps.customers.services.exports import customers_export_lines
from apps.customers.services.imports import (
    import_job_create,
    import_jobs_visible_to,
    import_preview_rows,
    import_read_headers,
    import_suggest_mapping,
    max_upload_bytes,
    upload_too_large_message,
)

IMPORT_ROLES = (Role.MARKETER, Role.SUPERVISOR, Role.ADMIN)
EXPORT_ROLES = (Role.SUPERVISOR, Role.MARKETER, Role.ADMIN)
SESSION_KEY = "customer_import_upload"
ERRORS_SHOWN = 50


class UploadForm(forms.Form):
    file = forms.FileField(help_text="A .csv or .xlsx file whose first row names the columns.")
    default_region = forms.CharField(
        max_length=2,
        initial=settings.DEFAULT_PHONE_REGION,
        help_text="Country for phone numbers written without +country code (e.g. US, GB, DE).",
    )

    def clean_default_region(self) -> str:
        return str(self.cleaned_data["default_region"]).strip().upper()

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > max_upload_bytes():
            raise ValidationError(upload_too_large_message())
        return upload


def _field_choices() -> list[tuple[str, str]]:
    keys = [d.key for d in active_definitions()]
    return [("", "— skip this column —"), *((f, f) for f in known_fields(keys))]


def _mapping_context(upload: dict[str, str], mapping: dict[str, str]) -> dict[str, Any]:
    with default_storage.open(upload["path"], "rb") as handle:
        handle.name = upload["name"]
        headers = import_read_headers(uploaded_file=handle)
        preview = import_preview_rows(uploaded_file=handle)
    by_header = {header: field for field, header in mapping.items()}
    columns = [
        {"index": index, "header": header, "field": by_header.get(header, "")}
        for index, header in enumerate(headers)
    ]
    return {
        "stage": "map",
        "upload": upload,
        "columns": columns,
        "preview": [row[: len(headers)] for row in preview],
        "choices": _field_choices(),
    }


def _store_upload(request: HttpRequest, upload: Any, region: str) -> dict[str, str]:
    """Keep the uploaded file between the upload and mapping steps (the job is created only when
    the user starts it)."""
    name = os.path.basename(upload.name)
    path = default_storage.save(f"imports/pending/{uuid.uuid4().hex}-{name}", upload)
    stored = {"path": path, "name": name, "region": region}
    request.session[SESSION_KEY] = stored
    return stored


@role_required(*IMPORT_ROLES)
@require_http_methods(["GET", "POST"])
def import_start(request: HttpRequest) -> HttpResponse:
    step = request.POST.get("step", "")
    if request.method == "POST" and step == "start":
        return _start(request)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            headers = import_read_headers(uploaded_file=upload)
        except ValidationError as exc:
            form.add_error("file", exc)
        else:
            stored = _store_upload(request, upload, form.cleaned_data["default_region"])
            return render(
                request,
                "customers/import_start.html",
                _mapping_context(stored, import_suggest_mapping(headers)),
            )
    jobs = import_jobs_visible_to(request.user)[:10]
    return render(request, "customers/import_start.html", {"stage": "upload", "form": form, "jobs": jobs})


def _start(request: HttpRequest) -> HttpResponse:
    upload = request.session.get(SESSION_KEY)
    if not upload or not default_storage.exists(upload["path"]):
        messages.error(request, "The uploaded file has expired; upload it again.")
        return redirect("customers:import")
    mapping: dict[str, str] = {}
    chosen: dict[str, str] = {}
    problems: list[str] = []
    try:
        with default_storage.open(upload["path"], "rb") as handle:
            handle.name = upload["name"]
            headers = import_read_headers(uploaded_file=handle)
    except ValidationError as exc:
        # Read at upload, refused now (the limits changed meanwhile): start over with the reason.
        default_storage.delete(upload["path"])
        del request.session[SESSION_KEY]
        for message in exc.messages:
            messages.error(request, message)
        return redirect("customers:import")
    for index, header in enumerate(headers):
        field = request.POST.get(f"column_{index}", "")
        if not field:
            continue
        if field in mapping:
            problems.append(f"{field} is chosen for both {mapping[field]!r} and {header!r}.")
        mapping[field] = header
        chosen[header] = field
    try:
        if problems:
            raise ValidationError(problems)
        with default_storage.open(upload["path"], "rb") as handle:
            handle.name = upload["name"]
            assert isinstance(request.user, User)  # the page needs a signed-in importer
            job = import_job_create(
                actor=request.user,
                uploaded_file=handle,
                file_name=upload["name"],
                mapping=mapping,
                default_region=upload["region"],
                source="page",
            )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return render(request, "customers/import_start.html", _mapping_context(upload, mapping), status=400)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    default_storage.delete(upload["path"])
    del request.session[SESSION_KEY]
    messages.success(request, f"Import of {job.file_name} started.")
    return redirect("customers:import_detail", pk=job.pk)


def _job(request: HttpRequest, pk: int) -> ImportJob:
    """The job if the user may see it (import_jobs_visible_to); 404 otherwise, so someone else's
    job shows nothing, not even that it exists."""
    return get_object_or_404(import_jobs_visible_to(request.user), pk=pk)


@role_required(*IMPORT_ROLES)
@require_GET
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    errors = list(job.row_errors.order_by("line_number", "id")[:ERRORS_SHOWN])
    return render(
        request, "customers/import_detail.html", {"job": job, "errors": errors, "shown": ERRORS_SHOWN}
    )


@role_required(*IMPORT_ROLES)
@require_GET
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress fragment htmx polls; it stops polling once the job is done or failed."""
    job = _job(request, pk)
    return render(request, "customers/import_progress.html", {"job": job})


@role_required(*IMPORT_ROLES)
@require_GET
def import_errors_csv(request: HttpRequest, pk: int) -> HttpResponse:
    from apps.customers.services.imports import import_errors_csv as write_errors

    job = _job(request, pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    write_errors(job=job, stream=response)
    return response


@role_required(*EXPORT_ROLES)
@require_GET
def export_csv(request: HttpRequest) -> HttpResponse:
    params = request.GET.dict()
    if params.get("owner") == "me":
        params["owner"] = str(request.user.pk)
    try:
        queryset = customer_filter(params)
    except ValidationError as exc:
        return HttpResponseBadRequest("; ".join(exc.messages))
    user = request.user if isinstance(request.user, User) else None
    try:
        lines = customers_export_lines(actor=user, queryset=queryset, filters=params)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="customers-{timezone.localdate():%Y%m%d}.csv"'
    # role_required is typed for HttpResponse; a streaming response is served the same way.
    return cast(HttpResponse, response)
