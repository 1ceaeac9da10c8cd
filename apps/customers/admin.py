"""Customers in the Django admin, built for a million rows: no full COUNT(*) (estimated counts,
see apps.core.admin.EstimatedCountPaginator), select_related lists, autocomplete foreign keys,
filters on indexed columns, search through the GIN-indexed customer_search, and bulk actions
that call the same services as the pages and the API."""

from __future__ import annotations

import contextlib
import json
import zoneinfo
from typing import Any
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
from apps.core.admin import LargeTableAdmin
from apps.core.exceptions import DomainError
from apps.core.models import AuditEntry
from apps.core.services import audit_record
from apps.customers.custom_fields import validate_custom_fields
from apps.customers.exceptions import InvalidContact, InvalidCustomFields
from apps.customers.models import (
    ContactPoint,
    ContactPointKind,
    Customer,
    CustomFieldDefinition,
    CustomFieldType,
    ImportJob,
    ImportRowError,
    MergeRecord,
    Note,
    Organization,
    Tag,
)
from apps.customers.normalize import normalize_contact, normalize_email, normalize_phone, time_zone_for_phone
from apps.customers.selectors import customer_search
from apps.customers.services.customers import (
    ContactInput,
    contact_point_add,
    contact_point_remove,
    contact_point_set_consent,
    customer_refresh_search_text,
    customer_set_tags,
    customer_update,
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


class CustomerAdminForm(forms.ModelForm):
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
        try:
            return validate_custom_fields(value)
        except InvalidCustomFields as exc:
            raise ValidationError([f"{key}: {message}" for key, message in exc.errors.items()]) from exc

    def clean_time_zone(self) -> str:
        value = (self.cleaned_data.get("time_zone") or "").strip()
        if value and value not in zoneinfo.available_timezones():
            raise ValidationError(f"{value!r} is not a known IANA time zone (e.g. Europe/Paris).")
        return value

    def clean_external_id(self) -> str | None:
        return (self.cleaned_data.get("external_id") or "").strip() or None


class ContactPointInlineForm(forms.ModelForm):
    class Meta:
        model = ContactPoint
        fields = ("kind", "network", "value", "label", "is_primary", *CONSENTS)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, value = data.get("kind"), data.get("value")
        if kind and value:
            if kind != ContactPointKind.SOCIAL:
                data["network"] = ""
            elif not data.get("network"):
                self.add_error("network", "A social handle needs its network.")
            try:
                data["value"] = normalize_contact(kind, value)
            except InvalidContact as exc:
                self.add_error("value", str(exc))
            else:
                # The unique (kind, network, value) check runs on the instance after clean().
                self.instance.value = data["value"]
        return data


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


@admin.register(Customer)
class CustomerAdmin(LargeTableAdmin):
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
                    e.actor or "system",
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
        user = request.user if isinstance(request.user, User) else None
        if not change:
            obj.save()
            audit_record(actor=user, action="customer.create", obj=obj, data={"via": "admin"})
            return
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
        customer_update(
            actor=user,
            customer=obj,
            organization_name=organization_name,
            custom_fields=custom_fields,
            **changes,
        )

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        if formset.model is not ContactPoint:
            super().save_formset(request, form, formset, change)
            return
        user = request.user if isinstance(request.user, User) else None
        customer: Customer = form.instance
        source = f"admin by {request.user.get_username()}"[:100]
        formset.save(commit=False)
        for point in formset.deleted_objects:
            contact_point_remove(actor=user, contact_point=point)
        for inline_form in formset.forms:
            if inline_form in formset.deleted_forms or not inline_form.has_changed():
                continue
            data = inline_form.cleaned_data
            if inline_form.instance.pk is None:
                point = contact_point_add(
                    actor=user,
                    customer=customer,
                    contact=ContactInput(
                        kind=data["kind"],
                        value=data["value"],
                        network=data.get("network", ""),
                        label=data.get("label", ""),
                        is_primary=data.get("is_primary", False),
                    ),
                )
                wanted = {consent: bool(data.get(consent)) for consent in CONSENTS}
            else:
                point = inline_form.instance
                wanted = {consent: getattr(point, consent) for consent in CONSENTS}
                # Consent changes go through the service below, which stamps time and source.
                for consent in CONSENTS:
                    setattr(point, consent, inline_form.initial.get(consent, False))
                other = [f for f in inline_form.changed_data if f not in CONSENTS]
                if other:
                    point.save(update_fields=other)
                if point.is_primary and "is_primary" in other:
                    ContactPoint.objects.filter(customer=customer, kind=point.kind).exclude(
                        pk=point.pk
                    ).update(is_primary=False)
            for consent, value in wanted.items():
                if getattr(point, consent) != value:
                    contact_point_set_consent(
                        actor=user, contact_point=point, consent=consent, value=value, source=source
                    )

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_related(request, form, formsets, change)
            customer = Customer.objects.select_related("organization").get(pk=form.instance.pk)
            if not customer.time_zone:
                phone = (
                    customer.contact_points.filter(kind=ContactPointKind.PHONE)
                    .order_by("-is_primary", "id")
                    .first()
                )
                zone = time_zone_for_phone(phone.value) if phone else ""
                if zone:
                    Customer.objects.filter(pk=customer.pk).update(time_zone=zone)
            customer_refresh_search_text(customer=customer)

    # -- bulk actions --

    @admin.action(description="Add a tag to selected customers", permissions=["change"])
    def add_tag(self, request: HttpRequest, queryset: QuerySet[Customer]) -> HttpResponse | None:
        form = TagActionForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            ids = _selected_ids(self, request, queryset, MAX_BULK_CUSTOMERS)
            if ids is None:
                return None
            name = form.cleaned_data["tag"].strip()
            user = request.user if isinstance(request.user, User) else None
            for customer in Customer.objects.filter(pk__in=ids):
                customer_set_tags(customer=customer, names=[name])
                audit_record(actor=user, action="customer.tag", obj=customer, data={"tag": name})
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
            user = request.user if isinstance(request.user, User) else None
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
        user = request.user if isinstance(request.user, User) else None
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
            user = request.user if isinstance(request.user, User) else None
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
        user = request.user if isinstance(request.user, User) else None
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
            user = request.user if isinstance(request.user, User) else None
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
class NoteAdmin(LargeTableAdmin):
    list_display = ("short_body", "customer", "author", "created_at")
    list_select_related = ("customer", "author")
    autocomplete_fields = ("customer",)
    raw_id_fields = ("author",)
    readonly_fields = ("created_at",)

    @admin.display(description="note")
    def short_body(self, obj: Note) -> str:
        return obj.body if len(obj.body) <= 80 else obj.body[:77] + "..."

    def save_model(self, request: HttpRequest, obj: Note, form: forms.ModelForm, change: bool) -> None:
        if obj.author_id is None and isinstance(request.user, User):
            obj.author = request.user
        super().save_model(request, obj, form, change)


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
