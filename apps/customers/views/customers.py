"""Customer pages: list, detail with its timeline, create/edit, contact points and consent, notes,
duplicates, merge and GDPR. Each view parses input, calls a selector or a service, and renders;
domain errors come back as form errors or messages."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import phonenumbers
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import User
from apps.accounts.roles import Role, has_role
from apps.core.exceptions import NotAllowed
from apps.core.permissions import AGENT_ROLES, CRM_ROLES, role_required
from apps.customers.duplicates import duplicate_candidates_for, duplicate_pairs
from apps.customers.exceptions import ContactPointTaken, InvalidContact, InvalidCustomFields, MergeNotAllowed
from apps.customers.forms import (
    CONSENT_FLAGS,
    ConsentForm,
    ContactPointForm,
    CustomerForm,
    MergeForm,
    NoteForm,
)
from apps.customers.models import (
    ContactPoint,
    ContactPointKind,
    Customer,
    CustomFieldDefinition,
    CustomFieldType,
    LifecycleStage,
    Note,
    Organization,
    Tag,
)
from apps.customers.selectors import CUSTOMER_FILTERS, customer_filter
from apps.customers.selectors import customer_detail as customer_detail_query
from apps.customers.services import customers as customer_services
from apps.customers.services import gdpr, merge
from apps.customers.services.customers import ContactInput
from apps.customers.timeline import customer_timeline

PAGE_SIZE = 25
TIMELINE_PAGE_SIZE = 20
SUPERVISOR_ROLES = (Role.SUPERVISOR, Role.ADMIN)
EXPORT_ROLES = (Role.SUPERVISOR, Role.MARKETER, Role.ADMIN)


# --- display helpers -------------------------------------------------------------------------


def display_contact(point: ContactPoint) -> str:
    """A contact point as people read it: phones in international format (+1 415-555-0134)."""
    if point.kind != ContactPointKind.PHONE:
        return f"{point.get_network_display()}: @{point.value}" if point.network else point.value
    try:
        parsed = phonenumbers.parse(point.value)
    except phonenumbers.NumberParseException:
        return point.value
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _source_for(user: Any) -> str:
    return f"agent: {user.get_username()}"


def _live_customer_or_redirect(request: HttpRequest, pk: int) -> Customer | HttpResponse:
    """The customer a write applies to; an erased one holds no personal data to change."""
    customer = get_object_or_404(Customer.objects.select_related("organization", "owner"), pk=pk)
    if customer.is_erased:
        messages.error(request, "This customer was erased; their record can no longer be changed.")
        return redirect("customers:detail", pk=pk)
    return customer


# --- list --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerRow:
    customer: Customer
    phone: str
    email: str
    tags: list[Tag]
    has_do_not_call: bool


def _primary_points() -> Prefetch[Any]:
    return Prefetch(
        "contact_points",
        queryset=ContactPoint.objects.filter(
            is_primary=True, kind__in=[ContactPointKind.PHONE, ContactPointKind.EMAIL], network=""
        ),
        to_attr="primary_points",
    )


def _filter_params(request: HttpRequest) -> dict[str, str]:
    """The filters as the selector takes them ("me" becomes the user's id)."""
    params = {key: request.GET.get(key, "").strip() for key in CUSTOMER_FILTERS}
    if params["owner"] == "me":
        params["owner"] = str(request.user.pk)
    return {key: value for key, value in params.items() if value}


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    return max(1, int(raw)) if raw.isdigit() else 1


@require_GET
@role_required(*CRM_ROLES)
def customer_list(request: HttpRequest) -> HttpResponse:
    """Search and filter customers. Pages by "one more row than shown" instead of COUNT(*), which
    PostgreSQL answers by scanning the whole table at a million customers."""
    filter_error = ""
    try:
        queryset: QuerySet[Customer] = customer_filter(_filter_params(request))
    except ValidationError as exc:
        filter_error = " ".join(exc.messages)
        queryset = Customer.objects.none()
    page = _page_number(request)
    offset = (page - 1) * PAGE_SIZE
    has_dnc = ContactPoint.objects.filter(customer=OuterRef("pk"), do_not_call=True)
    found = list(
        queryset.annotate(has_do_not_call=Exists(has_dnc)).prefetch_related(_primary_points(), "tags")[
            offset : offset + PAGE_SIZE + 1
        ]
    )
    has_next = len(found) > PAGE_SIZE
    rows = []
    for customer in found[:PAGE_SIZE]:
        points: list[ContactPoint] = customer.primary_points  # type: ignore[attr-defined]
        phone = next((p for p in points if p.kind == ContactPointKind.PHONE), None)
        email = next((p for p in points if p.kind == ContactPointKind.EMAIL), None)
        rows.append(
            CustomerRow(
                customer=customer,
                phone=display_contact(phone) if phone else "",
                email=email.value if email else "",
                tags=list(customer.tags.all()),
                has_do_not_call=bool(customer.has_do_not_call),  # type: ignore[attr-defined]
            )
        )
    kept = QueryDict(mutable=True)
    for key in CUSTOMER_FILTERS:
        if value := request.GET.get(key, "").strip():
            kept[key] = value
    organization_id = request.GET.get("organization", "").strip()
    organization = (
        Organization.objects.filter(pk=int(organization_id)).first() if organization_id.isdigit() else None
    )
    context = {
        "rows": rows,
        "page": page,
        "has_next": has_next,
        "has_previous": page > 1,
        "query": kept.urlencode(),
        "filters": {key: request.GET.get(key, "").strip() for key in CUSTOMER_FILTERS},
        "filter_error": filter_error,
        "filtered": bool(kept),
        "organization": organization,
        "owners": User.objects.filter(is_active=True).order_by("username"),
        "stages": LifecycleStage.choices,
        "can_edit": has_role(request.user, *AGENT_ROLES),
        "can_export": has_role(request.user, *EXPORT_ROLES),
        "can_import": request.user.has_perm("customers.import_customers"),
        "can_see_duplicates": has_role(request.user, *SUPERVISOR_ROLES),
    }
    return render(request, "customers/list.html", context)


# --- detail and timeline -----------------------------------------------------------------------


@dataclass(frozen=True)
class CustomFieldValue:
    label: str
    value: str


def _custom_field_values(customer: Customer) -> list[CustomFieldValue]:
    definitions = {d.key: d for d in CustomFieldDefinition.objects.all()}
    values = []
    ordered = sorted(
        customer.custom_fields.items(),
        key=lambda item: (
            (definitions[item[0]].position, item[0]) if item[0] in definitions else (10**6, item[0])
        ),
    )
    for key, value in ordered:
        definition = definitions.get(key)
        if definition is not None and definition.field_type == CustomFieldType.BOOLEAN:
            shown = "Yes" if value else "No"
        else:
            shown = str(value)
        values.append(CustomFieldValue(label=definition.label if definition else key, value=shown))
    return values


@dataclass(frozen=True)
class ContactRow:
    point: ContactPoint
    display: str
    consents: list[tuple[str, str, bool, dt.datetime | None, str]]


def _contact_rows(customer: Customer) -> list[ContactRow]:
    rows = []
    for point in customer.contact_points.all():
        if point.kind == ContactPointKind.PHONE:
            flags = ["do_not_call", "sms_opt_in"]
        elif point.kind == ContactPointKind.EMAIL:
            flags = ["email_opt_out"]
        else:
            flags = []
        consents = [
            (
                flag,
                CONSENT_FLAGS[flag],
                bool(getattr(point, flag)),
                getattr(point, f"{flag}_at"),
                getattr(point, f"{flag}_source"),
            )
            for flag in flags
        ]
        rows.append(ContactRow(point=point, display=display_contact(point), consents=consents))
    return rows


def _local_time(customer: Customer) -> dt.datetime | None:
    if not customer.time_zone:
        return None
    try:
        zone = zoneinfo.ZoneInfo(customer.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return timezone.now().astimezone(zone)


def _timeline_context(
    request: HttpRequest, customer: Customer, before: dt.datetime | None = None
) -> dict[str, Any]:
    # One entry more than shown tells whether an "Older" page exists. Each source shows what the
    # signed-in user's roles may read (customers.timeline).
    viewer = request.user
    assert isinstance(viewer, User)
    entries = customer_timeline(customer, viewer=viewer, before=before, limit=TIMELINE_PAGE_SIZE + 1)
    shown = entries[:TIMELINE_PAGE_SIZE]
    older = shown[-1].at.isoformat() if len(entries) > TIMELINE_PAGE_SIZE else ""
    return {"customer": customer, "entries": shown, "older": older}


def _permissions(request: HttpRequest) -> dict[str, bool]:
    supervisor = has_role(request.user, *SUPERVISOR_ROLES)
    return {
        "can_edit": has_role(request.user, *AGENT_ROLES),
        "can_merge": supervisor and request.user.has_perm("customers.merge_customer"),
        "can_gdpr": supervisor,
    }


def _render_detail(
    request: HttpRequest,
    customer: Customer,
    *,
    note_form: NoteForm | None = None,
    contact_form: ContactPointForm | None = None,
    taken: ContactPoint | None = None,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {"customer": customer, **_permissions(request)}
    if not customer.is_erased:
        context.update(
            {
                "contacts": _contact_rows(customer),
                "custom_fields": _custom_field_values(customer),
                "tags": list(customer.tags.all()),
                "local_time": _local_time(customer),
                "note_form": note_form or NoteForm(),
                "contact_form": contact_form or ContactPointForm(),
                "taken": taken,
                "taken_display": display_contact(taken) if taken else "",
                **_timeline_context(request, customer),
            }
        )
    return render(request, "customers/detail.html", context, status=status)


def _get_detail(pk: int) -> Customer:
    try:
        return customer_detail_query(pk)
    except Customer.DoesNotExist:
        raise Http404("No such customer.") from None


@require_GET
@role_required(*CRM_ROLES)
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, _get_detail(pk))


def _parse_before(raw: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        return None
    return value if timezone.is_aware(value) else timezone.make_aware(value, dt.UTC)


@require_GET
@role_required(*CRM_ROLES)
def timeline(request: HttpRequest, pk: int) -> HttpResponse:
    """Older timeline entries: htmx appends the fragment to the list; without JavaScript the same
    link opens a page of them."""
    customer = get_object_or_404(Customer, pk=pk, is_erased=False)
    raw = request.GET.get("before", "")
    before = _parse_before(raw) if raw else None
    if raw and before is None:
        return HttpResponseBadRequest("before must be an ISO 8601 date and time.")
    context = _timeline_context(request, customer, before)
    if _is_htmx(request):
        return render(request, "customers/_timeline_more.html", context)
    return render(request, "customers/timeline_page.html", context)


# The role check comes first: anonymous users are sent to login, others refused, before 405.
@role_required(*AGENT_ROLES)
@require_POST
def note_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a note. htmx gets the refreshed timeline (and an empty form, out of band); a plain POST
    is redirected back to the customer."""
    found = _live_customer_or_redirect(request, pk)
    if isinstance(found, HttpResponse):
        return found
    customer = found
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            customer_services.note_add(actor=request.user, customer=customer, body=form.cleaned_data["body"])  # type: ignore[arg-type]
        except ValidationError as exc:
            form.add_error("body" if hasattr(exc, "error_dict") and "body" in exc.error_dict else None, exc)
    if form.is_valid():
        if _is_htmx(request):
            context = {**_timeline_context(request, customer), "note_form": NoteForm(), "oob": True}
            return render(request, "customers/_note_added.html", context)
        messages.success(request, "Note added.")
        return redirect(reverse("customers:detail", args=[pk]) + "#timeline")
    if _is_htmx(request):
        # htmx does not swap error statuses: send the form back with 200 into the form's place.
        response = render(request, "customers/_note_form.html", {"customer": customer, "note_form": form})
        response["HX-Retarget"] = "#note-form"
        response["HX-Reswap"] = "outerHTML"
        return response
    return _render_detail(request, _get_detail(pk), note_form=form, status=400)


# --- contact points ----------------------------------------------------------------------------


# The role check comes first: anonymous users are sent to login, others refused, before 405.
@role_required(*AGENT_ROLES)
@require_POST
def contact_add(request: HttpRequest, pk: int) -> HttpResponse:
    found = _live_customer_or_redirect(request, pk)
    if isinstance(found, HttpResponse):
        return found
    form = ContactPointForm(request.POST)
    taken: ContactPoint | None = None
    if form.is_valid():
        data = form.cleaned_data
        contact = ContactInput(
            kind=data["kind"],
            value=data["value"],
            network=data["network"] or "",
            label=data["label"],
            is_primary=data["is_primary"],
        )
        try:
            point = customer_services.contact_point_add(
                actor=request.user,  # type: ignore[arg-type]
                customer=found,
                contact=contact,
                region=settings.DEFAULT_PHONE_REGION,
            )
        except InvalidContact as exc:
            form.add_error("value", str(exc))
        except ContactPointTaken as exc:
            taken = ContactPoint.objects.select_related("customer").get(pk=exc.contact_point.pk)
            form.add_error("value", f"{display_contact(taken)} already belongs to another customer.")
        else:
            messages.success(request, f"Added {display_contact(point)}.")
            return redirect(reverse("customers:detail", args=[pk]) + "#contacts")
    return _render_detail(request, _get_detail(pk), contact_form=form, taken=taken, status=400)


def _contact_point_of(customer: Customer, cp_pk: int) -> ContactPoint:
    return get_object_or_404(ContactPoint.objects.select_related("customer"), pk=cp_pk, customer=customer)


# The role check comes first: anonymous users are sent to login, others refused, before 405.
@role_required(*AGENT_ROLES)
@require_POST
def contact_consent(request: HttpRequest, pk: int, cp_pk: int) -> HttpResponse:
    found = _live_customer_or_redirect(request, pk)
    if isinstance(found, HttpResponse):
        return found
    point = _contact_point_of(found, cp_pk)
    form = ConsentForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Unknown consent or value.")
    consent, value = form.cleaned_data["consent"], form.cleaned_data["value"]
    try:
        customer_services.contact_point_set_consent(
            actor=request.user,  # type: ignore[arg-type]
            contact_point=point,
            consent=consent,
            value=value,
            source=_source_for(request.user),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        state = "on" if value else "off"
        messages.success(request, f"{CONSENT_FLAGS[consent]} is {state} for {display_contact(point)}.")
    return redirect(reverse("customers:detail", args=[pk]) + "#contacts")


# The role check comes first: anonymous users are sent to login, others refused, before 405.
@role_required(*AGENT_ROLES)
@require_POST
def contact_remove(request: HttpRequest, pk: int, cp_pk: int) -> HttpResponse:
    found = _live_customer_or_redirect(request, pk)
    if isinstance(found, HttpResponse):
        return found
    point = _contact_point_of(found, cp_pk)
    shown = display_contact(point)
    customer_services.contact_point_remove(actor=request.user, contact_point=point)  # type: ignore[arg-type]
    messages.success(request, f"Removed {shown}.")
    return redirect(reverse("customers:detail", args=[pk]) + "#contacts")


# --- create and edit ---------------------------------------------------------------------------


def _active_definitions() -> list[CustomFieldDefinition]:
    return list(CustomFieldDefinition.objects.filter(is_active=True))


def _render_form(
    request: HttpRequest, form: CustomerForm, customer: Customer | None, status: int
) -> HttpResponse:
    return render(request, "customers/form.html", {"form": form, "customer": customer}, status=status)


_DOMAIN_ERRORS = (InvalidContact, InvalidCustomFields, ValidationError)


@require_http_methods(["GET", "POST"])
@role_required(*AGENT_ROLES)
def customer_create(request: HttpRequest) -> HttpResponse:
    definitions = _active_definitions()
    if request.method != "POST":
        form = CustomerForm(definitions=definitions, initial={"owner": request.user.pk})
        return _render_form(request, form, None, 200)
    form = CustomerForm(request.POST, definitions=definitions)
    if form.is_valid():
        data = form.cleaned_data
        contacts = []
        if data["phone"]:
            contacts.append(ContactInput(kind=ContactPointKind.PHONE, value=data["phone"]))
        if data["email"]:
            contacts.append(ContactInput(kind=ContactPointKind.EMAIL, value=data["email"]))
        try:
            customer = customer_services.customer_create(
                actor=request.user,  # type: ignore[arg-type]
                first_name=data["first_name"],
                last_name=data["last_name"],
                organization_name=data["organization"],
                job_title=data["job_title"],
                owner=data["owner"],
                lifecycle_stage=data["lifecycle_stage"],
                time_zone=data["time_zone"],
                custom_fields={k: v for k, v in form.custom_field_values().items() if v is not None},
                contacts=contacts,
                tags=data["tags"],
                region=settings.DEFAULT_PHONE_REGION,
            )
        except ContactPointTaken as exc:
            _add_taken_error(form, exc)
        except _DOMAIN_ERRORS as exc:
            form.add_domain_error(exc)
        else:
            messages.success(request, f"Created {customer.display_name}.")
            return redirect("customers:detail", pk=customer.pk)
    return _render_form(request, form, None, 400)


def _add_taken_error(form: CustomerForm, exc: ContactPointTaken) -> None:
    point = exc.contact_point
    field = "email" if point.kind == ContactPointKind.EMAIL else "phone"
    owner = Customer.objects.filter(pk=point.customer_id).first()
    name = owner.display_name if owner else f"customer #{point.customer_id}"
    form.taken = point  # type: ignore[attr-defined]
    form.taken_customer = owner  # type: ignore[attr-defined]
    form.add_error(
        field if field in form.fields else None, f"{display_contact(point)} already belongs to {name}."
    )


@require_http_methods(["GET", "POST"])
@role_required(*AGENT_ROLES)
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    found = _live_customer_or_redirect(request, pk)
    if isinstance(found, HttpResponse):
        return found
    customer = found
    definitions = _active_definitions()
    if request.method != "POST":
        form = CustomerForm(
            definitions=definitions,
            with_contacts=False,
            initial=CustomerForm.initial_for(customer, definitions),
        )
        return _render_form(request, form, customer, 200)
    form = CustomerForm(request.POST, definitions=definitions, with_contacts=False)
    if form.is_valid():
        data = form.cleaned_data
        try:
            # Fields and tags change together or not at all.
            with transaction.atomic():
                customer = customer_services.customer_update(
                    actor=request.user,  # type: ignore[arg-type]
                    customer=customer,
                    organization_name=data["organization"],
                    custom_fields=form.custom_field_values(),
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    job_title=data["job_title"],
                    owner=data["owner"],
                    lifecycle_stage=data["lifecycle_stage"],
                    time_zone=data["time_zone"],
                )
                customer_services.customer_set_tags(
                    actor=request.user,  # type: ignore[arg-type]
                    customer=customer,
                    names=data["tags"],
                    replace=True,
                )
        except _DOMAIN_ERRORS as exc:
            form.add_domain_error(exc)
        else:
            messages.success(request, f"Saved {customer.display_name}.")
            return redirect("customers:detail", pk=customer.pk)
    return _render_form(request, form, customer, 400)


# --- duplicates and merge ----------------------------------------------------------------------


@require_GET
@role_required(*SUPERVISOR_ROLES)
def duplicates(request: HttpRequest) -> HttpResponse:
    pairs = duplicate_pairs(limit=50)
    rows = [
        {
            "pair": pair,
            "first_contacts": [display_contact(p) for p in pair.first.contact_points.all()],
            "second_contacts": [display_contact(p) for p in pair.second.contact_points.all()],
        }
        for pair in pairs
    ]
    return render(request, "customers/duplicates.html", {"rows": rows})


@dataclass(frozen=True)
class MergeSide:
    customer: Customer
    contacts: list[str]
    tags: list[str]
    notes: int


def _merge_sides(customers: Sequence[Customer]) -> list[MergeSide]:
    ids = [c.pk for c in customers]
    loaded = {
        c.pk: c
        for c in Customer.objects.filter(pk__in=ids)
        .select_related("organization", "owner")
        .prefetch_related("contact_points", "tags")
    }
    notes = dict(
        Note.objects.filter(customer_id__in=ids)
        .values("customer_id")
        .annotate(n=Count("id"))
        .values_list("customer_id", "n")
    )
    return [
        MergeSide(
            customer=loaded[pk],
            contacts=[display_contact(p) for p in loaded[pk].contact_points.all()],
            tags=[t.name for t in loaded[pk].tags.all()],
            notes=notes.get(pk, 0),
        )
        for pk in ids
    ]


@require_http_methods(["GET", "POST"])
@role_required(*SUPERVISOR_ROLES)
def customer_merge(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: this customer beside a duplicate (?other=) or the list of likely duplicates.
    POST: keep `survivor`, fold `duplicate` into it (one of them is this customer)."""
    customer = get_object_or_404(Customer.objects.select_related("organization", "owner"), pk=pk)
    if request.method == "POST":
        form = MergeForm(request.POST)
        other_id = form.cleaned_data["other"] if form.is_valid() else None
        if other_id is None or other_id == pk or form.cleaned_data["survivor"] not in {pk, other_id}:
            messages.error(request, "Choose which of the two customers survives.")
            return redirect("customers:merge", pk=pk)
        survivor_id = form.cleaned_data["survivor"]
        duplicate_id = other_id if survivor_id == pk else pk
        pair = Customer.objects.in_bulk([survivor_id, duplicate_id])
        survivor, duplicate = pair.get(survivor_id), pair.get(duplicate_id)
        if survivor is None or duplicate is None:
            messages.error(request, "One of the two customers no longer exists.")
            return redirect("customers:merge", pk=pk)
        duplicate_name = f"{duplicate.display_name} (#{duplicate.pk})"
        try:
            merge.customer_merge(actor=request.user, survivor=survivor, duplicate=duplicate)  # type: ignore[arg-type]
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        except MergeNotAllowed as exc:
            messages.error(request, str(exc))
            return redirect("customers:merge", pk=pk)
        messages.success(request, f"Merged {duplicate_name} into {survivor.display_name}.")
        return redirect("customers:detail", pk=survivor.pk)

    if customer.is_erased:
        messages.error(request, "An erased customer cannot be merged.")
        return redirect("customers:detail", pk=pk)
    other: Customer | None = None
    raw_other = request.GET.get("other", "").strip()
    if raw_other:
        other = (
            Customer.objects.filter(pk=int(raw_other), is_erased=False).exclude(pk=pk).first()
            if raw_other.isdigit()
            else None
        )
        if other is None:
            messages.error(request, f"There is no other customer #{raw_other} to merge with.")
    candidates = [] if other is not None else duplicate_candidates_for(customer, limit=10)
    sides = _merge_sides([customer, other]) if other is not None else []
    return render(
        request,
        "customers/merge.html",
        {"customer": customer, "other": other, "sides": sides, "candidates": candidates},
    )


# --- GDPR --------------------------------------------------------------------------------------


@require_GET
@role_required(*SUPERVISOR_ROLES)
def gdpr_export(request: HttpRequest, pk: int) -> HttpResponse:
    """A download of everything held about the customer (a GDPR access request); audited."""
    customer = get_object_or_404(Customer, pk=pk)
    try:
        data = gdpr.customer_export_personal_data(actor=request.user, customer=customer)  # type: ignore[arg-type]
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    response = HttpResponse(
        json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="customer-{pk}-personal-data.json"'
    return response


@require_http_methods(["GET", "POST"])
@role_required(*SUPERVISOR_ROLES)
def customer_erase(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer.objects.select_related("organization"), pk=pk)
    if customer.is_erased:
        messages.info(request, "This customer was already erased.")
        return redirect("customers:detail", pk=pk)
    if request.method != "POST":
        counts = {
            "contacts": customer.contact_points.count(),
            "notes": customer.notes.count(),
        }
        return render(request, "customers/erase_confirm.html", {"customer": customer, "counts": counts})
    name = f"{customer.display_name} (#{customer.pk})"
    try:
        gdpr.customer_erase(actor=request.user, customer=customer)  # type: ignore[arg-type]
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    messages.success(request, f"Erased the personal data of {name}; statistics keep the anonymous record.")
    return redirect("customers:list")
