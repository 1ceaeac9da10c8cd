"""Customers in the Django admin, built for a million rows: no full COUNT(*) (estimated counts,
see apps.core.admin.EstimatedCountPaginator), select_related lists, autocomplete foreign keys,
filters on indexed columns, search through the GIN-indexed customer_search.

Every write goes through the same services as the pages, the API and imports: the customer form
and its contact-point rows, the tags, notes and the bulk actions. What a service refuses comes
back on the form, next to the field it concerns (ThroughServicesAdmin), and nothing of that save
is kept."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.db.models.functions import Lower
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from apps.accounts.models import User
from apps.core.actors import require_person
from apps.core.admin import LargeTableAdmin
from apps.core.exceptions import DomainError
from apps.core.models import AuditEntry
from apps.customers.exceptions import ContactPointTaken, InvalidContact, InvalidCustomFields
from apps.customers.models import (
    ContactPoint,
    ContactPointKind,
    Customer,
    CustomFieldDefinition,
    CustomFieldType,
    ImportJob,
    ImportRowError,
    LifecycleStage,
    MergeRecord,
    Note,
    Organization,
    Tag,
)
from apps.customers.normalize import normalize_contact, normalize_email, normalize_phone
from apps.customers.selectors import customer_search
from apps.customers.services.customers import (
    ContactInput,
    contact_point_add,
    contact_point_remove,
    contact_point_set_consent,
    contact_point_update,
    customer_create,
    customer_set_tags,
    customer_update,
    note_add,
)
from apps.customers.services.gdpr import customer_erase, customer_export_personal_data
from apps.customers.services.merge import customer_merge

# A bulk action touches at most this many customers; beyond it the admin narrows the filter first
# (each customer goes through its service, with its audit entry).
MAX_BULK_CUSTOMERS = 5_000
MAX_BULK_ERASE = 500
CONSENTS = ("do_not_call", "email_opt_out", "sms_opt_in")
_UPDATABLE_FIELDS = (
    "first_name",
    "last_name",
    "job_title",
    "owner",
    "lifecycle_stage",
    "time_zone",
    "external_id",
)
# Changelist query parameters -> customers:export (selectors.customer_filter) parameters.
_EXPORT_PARAMS = {
    "q": "q",
    "lifecycle_stage__exact": "lifecycle_stage",
    "owner__id__exact": "owner",
    "tag": "tag",
    "dnc": "dnc",
}


def _admin_source(request: HttpRequest) -> str:
    return f"admin bulk action by {request.user.get_username()}"[:100]


def _person(request: HttpRequest) -> User:
    """The staff member an admin request acts for (the admin site lets nobody else in)."""
    return require_person(request.user)


# --- saving through the services -----------------------------------------------------------

FormErrors: TypeAlias = dict[str | None, list[str]]
"""Messages by form field name; None for the ones about the whole form."""

# What a service raises when it refuses its input (anything else is a bug and stays a 500).
SERVICE_ERRORS = (DomainError, ValidationError)


def service_errors(error: Exception, *, renames: Mapping[str, str] | None = None) -> FormErrors:
    """A service's refusal as form errors: ValidationError keeps its fields (renamed where the
    form calls them differently), custom field errors go to custom_fields, a contact value that
    does not normalize or belongs to someone else goes to value."""
    renames = renames or {}
    if isinstance(error, InvalidCustomFields):
        return {"custom_fields": [f"{key}: {message}" for key, message in error.errors.items()]}
    if isinstance(error, ValidationError):
        if hasattr(error, "error_dict"):
            return {renames.get(field, field): list(msgs) for field, msgs in error.message_dict.items()}
        return {None: list(error.messages)}
    if isinstance(error, InvalidContact | ContactPointTaken):
        return {"value": [str(error)]}
    return {None: [str(error)]}


def _add_errors(into: FormErrors, errors: FormErrors) -> None:
    for field, texts in errors.items():
        into.setdefault(field, []).extend(texts)


class ServiceRejected(Exception):
    """The services refused part of an admin form's save. Raised from save_model/save_related,
    it rolls the admin's transaction back (nothing of this save is kept), and
    ThroughServicesAdmin shows the same form again with the reasons next to their fields."""

    def __init__(
        self, form_errors: FormErrors, inline_errors: Mapping[str, FormErrors] | None = None
    ) -> None:
        self.form_errors = {field: list(msgs) for field, msgs in form_errors.items()}
        self.inline_errors = dict(inline_errors or {})
        if self.inline_errors:
            # The main form must fail its second validation too, or the admin would save again.
            self.form_errors.setdefault(None, []).append(
                "Some contact points could not be saved; see the reasons on their rows below."
            )
        super().__init__("; ".join(m for msgs in self.form_errors.values() for m in msgs))


_REJECTION_ATTRIBUTE = "customers_admin_rejection"


class ServiceErrorsForm(forms.ModelForm):
    """A form of an admin that saves through the services. When the services refused this same
    input a moment ago (ThroughServicesAdmin), clean() shows their reasons on the fields:
    `service_errors` for the main form (set by get_form), `service_errors_by_prefix` for inline
    rows (passed by get_formset_kwargs, each row picks its own)."""

    service_errors: Mapping[str | None, Sequence[str]] = {}

    def __init__(
        self, *args: Any, service_errors_by_prefix: Mapping[str, FormErrors] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if service_errors_by_prefix is not None:
            self.service_errors = service_errors_by_prefix.get(self.prefix or "", {})

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for field, texts in self.service_errors.items():
            self.add_error(field if field in self.fields else None, list(texts))
        return data


class ThroughServicesAdmin(LargeTableAdmin):
    """An admin whose add and change forms save through the services (save_model/save_related
    call them and raise ServiceRejected with what they refused). The admin runs the save in one
    transaction, which the exception rolls back; the form is then processed once more with the
    refusals added to its validation, so the admin shows its usual error page with each reason
    on its field, and a refused save writes nothing (no row, no audit entry, no admin log)."""

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRejected as rejected:
            setattr(request, _REJECTION_ATTRIBUTE, rejected)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(
        self, request: HttpRequest, obj: Any | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        form = super().get_form(request, obj, change, **kwargs)
        rejected = getattr(request, _REJECTION_ATTRIBUTE, None)
        if rejected is None or not issubclass(form, ServiceErrorsForm):
            return form
        return type(form.__name__, (form,), {"service_errors": rejected.form_errors})

    def get_formset_kwargs(self, request: HttpRequest, obj: Any, inline: Any, prefix: str) -> dict[str, Any]:
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        rejected = getattr(request, _REJECTION_ATTRIBUTE, None)
        if rejected is not None and issubclass(inline.form, ServiceErrorsForm):
            kwargs["form_kwargs"] = {"service_errors_by_prefix": rejected.inline_errors}
        return kwargs


# --- filters -------------------------------------------------------------------------------


class TagFilter(admin.SimpleListFilter):
    """Filter by tag with EXISTS on the tag link table: no join, so no DISTINCT over the list."""

    title = "tag"
    parameter_name = "tag"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in Tag.objects.order_by("name").values_list("name", flat=True)[:100]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if not self.value():
            return queryset
        links = Customer.tags.through.objects.filter(customer_id=OuterRef("pk"), tag__name=self.value())
        return queryset.filter(Exists(links))


class DoNotCallFilter(admin.SimpleListFilter):
    title = "do-not-call phone"
    parameter_name = "dnc"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Has a do-not-call phone"), ("no", "No do-not-call phone")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        has_dnc = ContactPoint.objects.filter(customer_id=OuterRef("pk"), do_not_call=True)
        if self.value() == "yes":
            return queryset.filter(Exists(has_dnc))
        if self.value() == "no":
            return queryset.exclude(Exists(has_dnc))
        return queryset


# --- forms ---------------------------------------------------------------------------------


class CustomerAdminForm(ServiceErrorsForm):
    """The customer's fields; the services check them (time zone, lifecycle stage, custom fields
    against their definitions) when the admin saves, and their refusals land on these fields."""

    custom_fields = forms.JSONField(
        required=False,
        help_text='A JSON object keyed by custom field key, e.g. {"plan": "gold"}; checked against '
        "the custom field definitions.",
    )

    class Meta:
        model = Customer
        fields = (
            "first_name",
            "last_name",
            "organization",
            "job_title",
            "owner",
            "lifecycle_stage",
            "tags",
            "time_zone",
            "external_id",
            "custom_fields",
        )

    def clean_custom_fields(self) -> dict[str, Any]:
        value = self.cleaned_data.get("custom_fields") or {}
        if not isinstance(value, dict):
            raise ValidationError('Custom fields must be a JSON object, e.g. {"plan": "gold"}.')
        return value

    def clean_external_id(self) -> str | None:
        return (self.cleaned_data.get("external_id") or "").strip() or None


class ContactPointInlineForm(ServiceErrorsForm):
    class Meta:
        model = ContactPoint
        fields = ("kind", "network", "value", "label", "is_primary", *CONSENTS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            # A phone never turns into an email: remove the row and add one of the other kind.
            self.fields["kind"].disabled = True

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        kind, value = data.get("kind"), data.get("value")
        if kind and value:
            if kind != ContactPointKind.SOCIAL:
                data["network"] = ""
            elif not data.get("network"):
                self.add_error("network", "A social handle needs its network.")
            # The shared normalization, so that the row's error is immediate and the unique
            # (kind, network, value) check that follows compares the stored form of the value.
            try:
                data["value"] = normalize_contact(kind, value)
            except InvalidContact as exc:
                self.add_error("value", str(exc))
        return data


class NoteAdminForm(ServiceErrorsForm):
    class Meta:
        model = Note
        fields = ("customer", "body")


class TagActionForm(forms.Form):
    tag = forms.CharField(max_length=64, help_text="Created when it does not exist yet.")


class OwnerActionForm(forms.Form):
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        required=False,
        empty_label="(nobody)",
    )


class CustomFieldDefinitionForm(forms.ModelForm):
    class Meta:
        model = CustomFieldDefinition
        fields = ("key", "label", "field_type", "choices", "required", "help_text", "position", "is_active")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        choices = data.get("choices")
        if data.get("field_type") == CustomFieldType.CHOICE and (
            not isinstance(choices, list) or not choices
        ):
            self.add_error("choices", 'List the allowed values as JSON, e.g. ["gold", "silver"].')
        return data


# --- inlines -------------------------------------------------------------------------------


class ContactPointInline(admin.TabularInline):
    model = ContactPoint
    form = ContactPointInlineForm
    extra = 0
    fields = ("kind", "network", "value", "label", "is_primary", *CONSENTS, "consent_details")
    readonly_fields = ("consent_details",)

    @admin.display(description="consent set")
    def consent_details(self, obj: ContactPoint) -> str:
        parts = []
        for consent in CONSENTS:
            at = getattr(obj, f"{consent}_at")
            if at:
                state = "on" if getattr(obj, consent) else "off"
                parts.append(
                    f"{consent.replace('_', ' ')} {state} {at:%Y-%m-%d} ({getattr(obj, f'{consent}_source')})"
                )
        return "; ".join(parts) or "-"


# --- customers -----------------------------------------------------------------------------


def _selected_ids(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Customer], cap: int
) -> list[int] | None:
    ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: cap + 1])
    if len(ids) > cap:
        modeladmin.message_user(
            request,
            f"More than {cap:,} customers selected: narrow the list with filters or search first.",
            messages.ERROR,
        )
        return None
    return ids


def _intermediate(
    request: HttpRequest,
    modeladmin: admin.ModelAdmin,
    queryset: QuerySet[Customer],
    *,
    action: str,
    title: str,
    form: forms.Form | None = None,
    template: str = "admin/customers/customer/action_form.html",
    **context: Any,
) -> TemplateResponse:
    return TemplateResponse(
        request,
        template,
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "opts": modeladmin.model._meta,
            "action": action,
            "form": form,
            "queryset": queryset[:50],
            "selected_ids": [
                str(pk) for pk in queryset.values_list("pk", flat=True)[: MAX_BULK_CUSTOMERS + 1]
            ],
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            **context,
        },
    )


_CUSTOMER_FIELD_RENAMES = {"organization_name": "organization"}
_POINT_FIELDS = ("value", "network", "label", "is_primary")


def _inline_source(request: HttpRequest) -> str:
    return f"admin by {request.user.get_username()}"[:100]


def _messages(error: Exception) -> list[str]:
    return list(error.messages) if isinstance(error, ValidationError) else [str(error)]


def _new_rows(points: Any) -> list[forms.ModelForm]:
    """The contact-point rows the admin filled in to add (not left empty, not deleted)."""
    if points is None:
        return []
    deleted = points.deleted_forms
    return [row for row in points.extra_forms if row.has_changed() and row not in deleted]


def _contact_input(data: Mapping[str, Any]) -> ContactInput:
    return ContactInput(
        kind=data["kind"],
        value=data["value"],
        network=data.get("network") or "",
        label=data.get("label") or "",
        is_primary=bool(data.get("is_primary")),
    )


def _row_key(data: Mapping[str, Any]) -> tuple[str, str, str]:
    # The row's value is already normalized by ContactPointInlineForm.clean.
    return (data["kind"], data.get("network") or "", data["value"])


def _point_key(point: ContactPoint) -> tuple[str, str, str]:
    return (point.kind, point.network, point.value)


@admin.register(Customer)
class CustomerAdmin(ThroughServicesAdmin):
    form = CustomerAdminForm
    list_display = (
        "name",
        "primary_contacts",
        "organization",
        "owner",
        "lifecycle_stage",
        "time_zone",
        "updated_at",
    )
    list_display_links = ("name",)
    list_select_related = ("organization", "owner")
    list_filter = ("lifecycle_stage", TagFilter, DoNotCallFilter, "owner", "is_erased")
    search_fields = ("search_text",)  # declared for autocomplete; get_search_results does the work
    search_help_text = "Name, organization, email or phone in any format."
    autocomplete_fields = ("organization", "owner", "tags")
    inlines = (ContactPointInline,)
    ordering = ("-updated_at", "-id")
    readonly_fields = ("is_erased", "erased_at", "created_at", "updated_at", "merge_history", "audit_history")
    fieldsets = (
        (None, {"fields": ("first_name", "last_name", "organization", "job_title", "owner")}),
        ("Status", {"fields": ("lifecycle_stage", "tags", "time_zone", "external_id")}),
        ("Custom fields", {"fields": ("custom_fields",)}),
        ("Record", {"fields": ("is_erased", "erased_at", "created_at", "updated_at")}),
        ("History", {"fields": ("merge_history", "audit_history")}),
    )
    actions = (
        "add_tag",
        "assign_owner",
        "mark_do_not_call",
        "merge_two",
        "gdpr_export_one",
        "erase_selected",
        "export_csv",
    )
    change_list_template = "admin/customers/customer/change_list.html"

    # -- list --

    def get_queryset(self, request: HttpRequest) -> QuerySet[Customer]:
        primary = ContactPoint.objects.filter(is_primary=True).order_by("kind", "id")
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("contact_points", queryset=primary, to_attr="primary_points"))
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Customer], search_term: str
    ) -> tuple[QuerySet[Customer], bool]:
        if not search_term.strip():
            return queryset, False
        return customer_search(search_term, queryset), False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Customers are erased (GDPR), not deleted: their interactions keep counting.
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Customer | None = None) -> bool:
        return False

    @admin.display(description="customer", ordering="last_name")
    def name(self, obj: Customer) -> str:
        return obj.display_name

    @admin.display(description="primary contacts")
    def primary_contacts(self, obj: Customer) -> str:
        return ", ".join(str(p) for p in getattr(obj, "primary_points", []))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        params = {
            target: request.GET[source]
            for source, target in _EXPORT_PARAMS.items()
            if request.GET.get(source)
        }
        export_url = reverse("customers:export") + (f"?{urlencode(params)}" if params else "")
        context = {**(extra_context or {}), "export_url": export_url}
        return super().changelist_view(request, extra_context=context)

    # -- change page --

    @admin.display(description="merged into this customer")
    def merge_history(self, obj: Customer) -> SafeString | str:
        if obj.pk is None:
            return "-"
        records = MergeRecord.objects.filter(survivor=obj).select_related("merged_by")[:50]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>#{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{r.merged_at:%Y-%m-%d %H:%M}",
                    r.merged_customer_id,
                    r.merged_by or "system",
                    " ".join(f"{k['first_name']} {k['last_name']}".split())
                    if "first_name" in (k := r.merged_snapshot)
                    else "(erased)",
                )
                for r in records
            ),
        )
        if not rows:
            return "No merges."
        return format_html(
            "<table><tr><th>when</th><th>customer</th><th>by</th><th>name</th></tr>{}</table>", rows
        )

    @admin.display(description="audit history (latest 50)")
    def audit_history(self, obj: Customer) -> SafeString | str:
        if obj.pk is None:
            return "-"
        entries = (
            AuditEntry.objects.filter(object_type="customers.customer", object_id=str(obj.pk))
            .select_related("actor")
            .order_by("-at", "-id")[:50]
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{e.at:%Y-%m-%d %H:%M}",
                    e.action,
                    e.actor or (f"system ({e.data['system']})" if e.data.get("system") else "system"),
                    json.dumps(e.data, ensure_ascii=False),
                )
                for e in entries
            ),
        )
        if not rows:
            return "No history."
        return format_html(
            "<table><tr><th>when</th><th>action</th><th>by</th><th>details</th></tr>{}</table>", rows
        )

    # -- saving through the services --

    def save_model(self, request: HttpRequest, obj: Customer, form: forms.ModelForm, change: bool) -> None:
        # Saved in save_related instead, together with the contact-point rows: customer_create
        # takes a new customer's contact points with it (a customer may have a phone and no
        # name), and a refusal of any part must reach the form before anything is kept.
        return

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        # No form.save_m2m(): the only many-to-many field, tags, goes through customer_set_tags.
        points = next((fs for fs in formsets if fs.model is ContactPoint), None)
        if change:
            self._save_change(request, form, points)
        else:
            self._save_new(request, form, points)
        for formset in formsets:
            if formset is not points:
                self.save_formset(request, form, formset, change=change)

    def _save_new(self, request: HttpRequest, form: forms.ModelForm, points: Any) -> None:
        user = _person(request)
        data = form.cleaned_data
        rows = _new_rows(points)
        organization = data.get("organization")
        try:
            customer = customer_create(
                actor=user,
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
                organization_name=organization.name if organization else "",
                job_title=data.get("job_title", ""),
                owner=data.get("owner"),
                lifecycle_stage=data.get("lifecycle_stage") or LifecycleStage.LEAD,
                time_zone=data.get("time_zone", ""),
                external_id=data.get("external_id"),
                custom_fields=data.get("custom_fields") or {},
                contacts=[_contact_input(row.cleaned_data) for row in rows],
                tags=[tag.name for tag in data.get("tags") or ()],
            )
        except ContactPointTaken as exc:
            taken = exc.contact_point
            row = next((r for r in rows if _row_key(r.cleaned_data) == _point_key(taken)), None)
            if row is None:
                raise ServiceRejected({None: [str(exc)]}) from exc
            raise ServiceRejected({}, {row.prefix or "": {"value": [str(exc)]}}) from exc
        except SERVICE_ERRORS as exc:
            raise ServiceRejected(service_errors(exc, renames=_CUSTOMER_FIELD_RENAMES)) from exc
        # The admin logs and redirects to the object it built: make it the created customer.
        obj: Customer = form.instance
        obj.pk = customer.pk
        obj.refresh_from_db()
        created = {_point_key(p): p for p in customer.contact_points.all()}
        source = _inline_source(request)
        for row in rows:
            point = created[_row_key(row.cleaned_data)]
            for consent in CONSENTS:
                if row.cleaned_data.get(consent):
                    contact_point_set_consent(
                        actor=user, contact_point=point, consent=consent, value=True, source=source
                    )
        if points is not None:
            points.save(commit=False)  # nothing written: fills the lists the change message reads

    def _save_change(self, request: HttpRequest, form: forms.ModelForm, points: Any) -> None:
        user = _person(request)
        obj: Customer = form.instance
        customer = obj
        form_errors: FormErrors = {}
        inline_errors: dict[str, FormErrors] = {}
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f in _UPDATABLE_FIELDS}
        organization_name: str | None = None
        if "organization" in form.changed_data:
            organization = form.cleaned_data.get("organization")
            organization_name = organization.name if organization else ""
        custom_fields: dict[str, Any] | None = None
        if "custom_fields" in form.changed_data:
            new = form.cleaned_data["custom_fields"] or {}
            old = Customer.objects.values_list("custom_fields", flat=True).get(pk=obj.pk) or {}
            custom_fields = {**{key: None for key in old if key not in new}, **new}
        # Each service call is its own savepoint: one refusal leaves the database as it was, so
        # the others still run and every reason is shown at once.
        try:
            customer = customer_update(
                actor=user,
                customer=obj,
                organization_name=organization_name,
                custom_fields=custom_fields,
                **changes,
            )
        except SERVICE_ERRORS as exc:
            _add_errors(form_errors, service_errors(exc, renames=_CUSTOMER_FIELD_RENAMES))
        if "tags" in form.changed_data:
            try:
                customer_set_tags(
                    actor=user,
                    customer=customer,
                    names=[tag.name for tag in form.cleaned_data.get("tags") or ()],
                    replace=True,
                )
            except SERVICE_ERRORS as exc:
                _add_errors(form_errors, service_errors(exc))
        if points is not None:
            self._save_contact_points(request, user, customer, points, form_errors, inline_errors)
        if form_errors or inline_errors:
            raise ServiceRejected(form_errors, inline_errors)

    def _save_contact_points(
        self,
        request: HttpRequest,
        user: User,
        customer: Customer,
        points: Any,
        form_errors: FormErrors,
        inline_errors: dict[str, FormErrors],
    ) -> None:
        source = _inline_source(request)
        deleted_rows = points.deleted_forms
        points.save(commit=False)  # nothing written: fills the lists the change message reads
        for point in points.deleted_objects:
            try:
                contact_point_remove(actor=user, contact_point=point)
            except SERVICE_ERRORS as exc:
                _add_errors(form_errors, {None: [f"{point.value}: {message}" for message in _messages(exc)]})
        changed = [r for r in points.initial_forms if r not in deleted_rows and r.has_changed()]
        # Rows made primary first: the service demotes the old primary, so un-ticking it next
        # changes nothing and no third point is promoted in between.
        changed.sort(key=lambda r: not r.cleaned_data.get("is_primary"))
        for row in changed:
            edits = {f: row.cleaned_data[f] for f in _POINT_FIELDS if f in row.changed_data}
            try:
                with transaction.atomic():
                    if edits:
                        contact_point_update(actor=user, contact_point=row.instance, **edits)
                    for consent in CONSENTS:
                        if consent in row.changed_data:
                            contact_point_set_consent(
                                actor=user,
                                contact_point=row.instance,
                                consent=consent,
                                value=bool(row.cleaned_data.get(consent)),
                                source=source,
                            )
            except SERVICE_ERRORS as exc:
                inline_errors[row.prefix or ""] = service_errors(exc)
        for row in _new_rows(points):
            try:
                with transaction.atomic():
                    point = contact_point_add(
                        actor=user, customer=customer, contact=_contact_input(row.cleaned_data)
                    )
                    for consent in CONSENTS:
                        if row.cleaned_data.get(consent):
                            contact_point_set_consent(
                                actor=user, contact_point=point, consent=consent, value=True, source=source
                            )
            except SERVICE_ERRORS as exc:
                inline_errors[row.prefix or ""] = service_errors(exc)

    # -- bulk actions --

    @admin.action(description="Add a tag to selected customers", permissions=["change"])
    def add_tag(self, request: HttpRequest, queryset: QuerySet[Customer]) -> HttpResponse | None:
        form = TagActionForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            ids = _selected_ids(self, request, queryset, MAX_BULK_CUSTOMERS)
            if ids is None:
                return None
            name = form.cleaned_data["tag"].strip()
            user = _person(request)
            for customer in Customer.objects.filter(pk__in=ids):
                customer_set_tags(actor=user, customer=customer, names=[name])
            self.message_user(request, f"Tag {name!r} added to {len(ids):,} customers.", messages.SUCCESS)
            return None
        return _intermediate(request, self, queryset, action="add_tag", title="Add a tag", form=form)

    @admin.action(description="Assign an owner to selected customers", permissions=["change"])
    def assign_owner(self, request: HttpRequest, queryset: QuerySet[Customer]) -> HttpResponse | None:
        form = OwnerActionForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            ids = _selected_ids(self, request, queryset, MAX_BULK_CUSTOMERS)
            if ids is None:
                return None
            owner = form.cleaned_data["owner"]
            user = _person(request)
            for customer in Customer.objects.filter(pk__in=ids):
                customer_update(actor=user, customer=customer, owner=owner)
            self.message_user(
                request, f"Owner set to {owner or 'nobody'} on {len(ids):,} customers.", messages.SUCCESS
            )
            return None
        return _intermediate(
            request, self, queryset, action="assign_owner", title="Assign an owner", form=form
        )

    @admin.action(description="Mark every phone of selected customers do-not-call", permissions=["change"])
    def mark_do_not_call(self, request: HttpRequest, queryset: QuerySet[Customer]) -> None:
        ids = _selected_ids(self, request, queryset, MAX_BULK_CUSTOMERS)
        if ids is None:
            return
        user = _person(request)
        phones = ContactPoint.objects.filter(
            customer_id__in=ids, kind=ContactPointKind.PHONE, do_not_call=False
        )
        count = 0
        for phone in phones:
            contact_point_set_consent(
                actor=user,
                contact_point=phone,
                consent="do_not_call",
                value=True,
                source=_admin_source(request),
            )
            count += 1
        self.message_user(request, f"{count:,} phone numbers marked do-not-call.", messages.SUCCESS)

    @admin.action(description="Merge the two selected customers", permissions=["merge"])
    def merge_two(self, request: HttpRequest, queryset: QuerySet[Customer]) -> HttpResponse | None:
        pair = list(queryset.order_by("created_at", "pk")[:3])
        if len(pair) != 2:
            self.message_user(request, "Select exactly two customers to merge.", messages.ERROR)
            return None
        if "apply" in request.POST:
            survivor_id = request.POST.get("survivor", "")
            survivor = next((c for c in pair if str(c.pk) == survivor_id), None)
            if survivor is None:
                self.message_user(request, "Choose which customer to keep.", messages.ERROR)
                return None
            duplicate = pair[1] if survivor is pair[0] else pair[0]
            user = _person(request)
            try:
                customer_merge(actor=user, survivor=survivor, duplicate=duplicate)
            except DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            self.message_user(
                request,
                f"Customer #{duplicate.pk} merged into {survivor.display_name} (#{survivor.pk}).",
                messages.SUCCESS,
            )
            return None
        return _intermediate(
            request,
            self,
            queryset,
            action="merge_two",
            title="Merge two customers",
            template="admin/customers/customer/merge_confirm.html",
            pair=pair,
            survivor_id=pair[0].pk,
        )

    def has_merge_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("customers.merge_customer")

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("customers.export_customer")

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("customers.erase_customer")

    @admin.action(description="GDPR: export the selected customer's data (JSON)", permissions=["export"])
    def gdpr_export_one(self, request: HttpRequest, queryset: QuerySet[Customer]) -> HttpResponse | None:
        selected = list(queryset[:2])
        if len(selected) != 1:
            self.message_user(request, "Select exactly one customer to export.", messages.ERROR)
            return None
        user = _person(request)
        data = customer_export_personal_data(actor=user, customer=selected[0])
        response = JsonResponse(data, json_dumps_params={"indent": 2, "ensure_ascii": False})
        response["Content-Disposition"] = f'attachment; filename="customer-{selected[0].pk}.json"'
        return response

    @admin.action(description="GDPR: erase selected customers' personal data", permissions=["erase"])
    def erase_selected(self, request: HttpRequest, queryset: QuerySet[Customer]) -> HttpResponse | None:
        if "apply" in request.POST:
            ids = _selected_ids(self, request, queryset, MAX_BULK_ERASE)
            if ids is None:
                return None
            user = _person(request)
            for customer in Customer.objects.filter(pk__in=ids):
                customer_erase(actor=user, customer=customer)
            self.message_user(request, f"{len(ids):,} customers erased.", messages.SUCCESS)
            return None
        return _intermediate(
            request,
            self,
            queryset,
            action="erase_selected",
            title="Erase personal data",
            template="admin/customers/customer/erase_confirm.html",
            limit=MAX_BULK_ERASE,
        )

    @admin.action(description="Export the filtered list to CSV", permissions=["export"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Customer]) -> HttpResponse:
        # The export page applies the same filters as the list (customer_filter); it streams
        # every matching row, not only the ticked ones.
        params = {
            target: request.GET[source]
            for source, target in _EXPORT_PARAMS.items()
            if request.GET.get(source)
        }
        return HttpResponseRedirect(reverse("customers:export") + (f"?{urlencode(params)}" if params else ""))


# --- the other models ----------------------------------------------------------------------


@admin.register(Organization)
class OrganizationAdmin(LargeTableAdmin):
    list_display = ("name", "domain", "created_at")
    search_fields = ("name",)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Organization], search_term: str
    ) -> tuple[QuerySet[Organization], bool]:
        term = search_term.strip().lower()
        if not term:
            return queryset, False
        # lower(name) LIKE '%term%' is answered by the trigram index on lower(name) (migration 0002).
        return queryset.alias(lower_name=Lower("name")).filter(lower_name__contains=term), False


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "color")
    search_fields = ("name",)


@admin.register(CustomFieldDefinition)
class CustomFieldDefinitionAdmin(admin.ModelAdmin):
    form = CustomFieldDefinitionForm
    list_display = ("key", "label", "field_type", "required", "is_active", "position")
    list_filter = ("field_type", "is_active")
    search_fields = ("key", "label")


@admin.register(ContactPoint)
class ContactPointAdmin(LargeTableAdmin):
    """Read-only here: contact points change on their customer's page, where services normalize
    values and stamp consent with its time and source."""

    list_display = ("__str__", "kind", "customer", "is_primary", "do_not_call", "email_opt_out", "sms_opt_in")
    list_filter = ("kind", "do_not_call", "email_opt_out", "sms_opt_in")
    list_select_related = ("customer",)
    search_fields = ("value",)
    search_help_text = "A whole phone number (any format) or email address."
    raw_id_fields = ("customer",)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ContactPoint], search_term: str
    ) -> tuple[QuerySet[ContactPoint], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        values = {term.lower().lstrip("@")}
        with contextlib.suppress(InvalidContact):
            values.add(normalize_email(term) if "@" in term else normalize_phone(term))
        return queryset.filter(value__in=values), False  # the unique index answers exact values

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ContactPoint | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ContactPoint | None = None) -> bool:
        return False


@admin.register(Note)
class NoteAdmin(ThroughServicesAdmin):
    """Notes are added through note_add, written by the signed-in staff member, and never change
    afterwards (as on the pages and in the API): an existing note is shown read-only."""

    form = NoteAdminForm
    list_display = ("short_body", "customer", "author", "created_at")
    list_select_related = ("customer", "author")
    autocomplete_fields = ("customer",)
    fields = ("customer", "body", "author", "created_at")
    readonly_fields = ("author", "created_at")

    @admin.display(description="note")
    def short_body(self, obj: Note) -> str:
        return obj.body if len(obj.body) <= 80 else obj.body[:77] + "..."

    def has_change_permission(self, request: HttpRequest, obj: Note | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Note, form: forms.ModelForm, change: bool) -> None:
        try:
            note = note_add(
                actor=_person(request), customer=form.cleaned_data["customer"], body=form.cleaned_data["body"]
            )
        except SERVICE_ERRORS as exc:
            raise ServiceRejected(service_errors(exc)) from exc
        # The admin logs and redirects to the object it built: make it the note just added.
        obj.pk = note.pk
        obj.refresh_from_db()


class ReadOnlyAdmin(LargeTableAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(MergeRecord)
class MergeRecordAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "survivor", "merged_customer_id", "merged_by", "merged_at")
    list_select_related = ("survivor", "merged_by")
    search_fields = ("=merged_customer_id",)
    readonly_fields = ("survivor", "merged_customer_id", "merged_by", "merged_at", "snapshot")
    fields = readonly_fields
    raw_id_fields = ("survivor", "merged_by")

    @admin.display(description="merged record as it was")
    def snapshot(self, obj: MergeRecord) -> SafeString:
        return format_html("<pre>{}</pre>", json.dumps(obj.merged_snapshot, ensure_ascii=False, indent=2))


class ImportRowErrorInline(admin.TabularInline):
    """The first rejected rows; the full list is the downloadable error report."""

    model = ImportRowError
    fields = ("line_number", "reason", "raw")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = "rejected rows (first 50; download the error report for all)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImportRowError]:
        first_ids = (
            ImportRowError.objects.filter(job_id=OuterRef("job_id")).order_by("line_number").values("pk")[:50]
        )
        # Inline formsets cannot be sliced; limit with "line within the job's first 50" instead.
        return super().get_queryset(request).filter(pk__in=first_ids)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = (
        "file_name",
        "status",
        "source",
        "created_by",
        "created_at",
        "total_rows",
        "created_count",
        "updated_count",
        "unchanged_count",
        "rejected_count",
        "links",
    )
    list_filter = ("status", "source")
    list_select_related = ("created_by",)
    readonly_fields = (
        "file_name",
        "links",
        "status",
        "source",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "default_region",
        "mapping",
        "total_rows",
        "processed_rows",
        "created_count",
        "updated_count",
        "unchanged_count",
        "rejected_count",
        "error_message",
    )
    fields = readonly_fields
    inlines = (ImportRowErrorInline,)
    change_list_template = "admin/customers/importjob/change_list.html"

    @admin.display(description="pages")
    def links(self, obj: ImportJob) -> SafeString:
        return format_html(
            '<a href="{}">import page</a> · <a href="{}">error report (CSV)</a>',
            reverse("customers:import_detail", args=[obj.pk]),
            reverse("customers:import_errors", args=[obj.pk]),
        )


@admin.register(ImportRowError)
class ImportRowErrorAdmin(ReadOnlyAdmin):
    list_display = ("job", "line_number", "reason")
    list_select_related = ("job",)
    raw_id_fields = ("job",)
    readonly_fields = ("job", "line_number", "reason", "raw")
    fields = readonly_fields
