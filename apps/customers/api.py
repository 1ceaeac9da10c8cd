"""REST API of the customers app (/api/v1/): customers, contact points, notes and imports.

Thin by design: serializers parse and render, every write goes through a service in
apps.customers.services.*, and domain errors become HTTP responses in apps.core.api. Roles are
checked per action here and again inside the services that carry their own rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.core.api import ID_LOOKUP_PATTERN, id_param, parse_id, request_user
from apps.core.permissions import AGENT_ROLES, CRM_ROLES, RolesByActionMixin
from apps.customers.models import (
    ContactPoint,
    ContactPointKind,
    Customer,
    ImportJob,
    ImportRowError,
    LifecycleStage,
    MergeRecord,
    Note,
    SocialNetwork,
    Tag,
)
from apps.customers.selectors import customer_base_queryset, customer_detail, customer_filter, find_customer
from apps.customers.services.customers import (
    ContactInput,
    contact_point_add,
    contact_point_remove,
    contact_point_set_consent,
    customer_create,
    customer_set_tags,
    customer_update,
    note_add,
)
from apps.customers.services.gdpr import customer_erase, customer_export_personal_data
from apps.customers.services.imports import import_job_create, import_jobs_visible_to
from apps.customers.services.merge import customer_merge

SUPERVISION_ROLES = (Role.SUPERVISOR, Role.ADMIN)
"""Roles that may merge, erase and export one customer's personal data."""
IMPORT_ROLES = (Role.MARKETER, Role.SUPERVISOR, Role.ADMIN)
"""Roles that may import customer files and follow their jobs."""

CONSENT_FIELDS = ("do_not_call", "email_opt_out", "sms_opt_in")


# ---------------------------------------------------------------------------------------------
# Serializers: shapes only. Normalization, uniqueness and every rule live in the services.
# ---------------------------------------------------------------------------------------------


class ContactPointSerializer(serializers.ModelSerializer[ContactPoint]):
    # Blank for every kind but social handles: the schema says so (the model's choices do not).
    network = serializers.ChoiceField(choices=SocialNetwork.choices, allow_blank=True, read_only=True)

    class Meta:
        model = ContactPoint
        fields = [
            "id",
            "customer",
            "kind",
            "network",
            "value",
            "label",
            "is_primary",
            "do_not_call",
            "do_not_call_at",
            "do_not_call_source",
            "email_opt_out",
            "email_opt_out_at",
            "email_opt_out_source",
            "sms_opt_in",
            "sms_opt_in_at",
            "sms_opt_in_source",
            "created_at",
        ]
        read_only_fields = fields


class CustomerSerializer(serializers.ModelSerializer[Customer]):
    display_name = serializers.CharField(read_only=True)
    organization_name = serializers.CharField(
        source="organization.name", read_only=True, default=None, allow_null=True
    )
    tags: serializers.SlugRelatedField[Tag] = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="name"
    )
    custom_fields = serializers.DictField(read_only=True)
    contact_points = ContactPointSerializer(many=True, read_only=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "external_id",
            "display_name",
            "first_name",
            "last_name",
            "organization",
            "organization_name",
            "job_title",
            "owner",
            "lifecycle_stage",
            "time_zone",
            "tags",
            "custom_fields",
            "contact_points",
            "is_erased",
            "erased_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ContactInputSerializer(serializers.Serializer[ContactInput]):
    kind = serializers.ChoiceField(choices=ContactPointKind.choices)
    value = serializers.CharField(max_length=254)
    network = serializers.ChoiceField(choices=SocialNetwork.choices, required=False, allow_blank=True)
    # `label` and `source` shadow Field attributes only for the type checker: the serializer
    # metaclass moves declared fields off the class.
    label = serializers.CharField(max_length=32, required=False, allow_blank=True)  # type: ignore[assignment]
    is_primary = serializers.BooleanField(required=False)


def _contact_input(data: Mapping[str, Any]) -> ContactInput:
    return ContactInput(
        kind=data["kind"],
        value=data["value"],
        network=data.get("network", ""),
        label=data.get("label", ""),
        is_primary=data.get("is_primary", False),
    )


class CustomerWriteSerializer(serializers.Serializer[Customer]):
    """Fields a client may set; PATCH accepts any subset of them (contacts and region excepted:
    contact points change through /contact-points/)."""

    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    organization_name = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Found or created by name."
    )
    job_title = serializers.CharField(max_length=100, required=False, allow_blank=True)
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )
    lifecycle_stage = serializers.ChoiceField(choices=LifecycleStage.choices, required=False)
    time_zone = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="IANA zone; derived from the phone when empty.",
    )
    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True, allow_null=True)
    custom_fields = serializers.DictField(
        required=False,
        help_text="Keys of active custom field definitions; on PATCH null or '' removes a key.",
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        help_text="Tag names (created when missing). On PATCH the customer gets exactly these tags.",
    )

    def validate_external_id(self, value: str | None) -> str | None:
        """Each external id names one customer (a unique constraint): say who holds it, as a 400
        on the field, instead of letting the database refuse the write. The customer being
        changed (context "customer") may keep its own."""
        value = (value or "").strip() or None
        if value is None:
            return None
        holders = Customer.objects.filter(external_id=value)
        current = self.context.get("customer")
        if current is not None:
            holders = holders.exclude(pk=current.pk)
        holder = holders.values_list("pk", flat=True).first()
        if holder is not None:
            raise serializers.ValidationError(
                f"Customer #{holder} already has external id {value}; each customer needs its own."
            )
        return value


class CustomerCreateSerializer(CustomerWriteSerializer):
    contacts = ContactInputSerializer(many=True, required=False)
    region = serializers.CharField(
        min_length=2,
        max_length=2,
        required=False,
        help_text="ISO country code for phone numbers written without one (default: the server's).",
    )


_PLAIN_CUSTOMER_FIELDS = (
    "first_name",
    "last_name",
    "job_title",
    "owner",
    "lifecycle_stage",
    "time_zone",
    "external_id",
)


class CustomerMergeSerializer(serializers.Serializer[Customer]):
    duplicate = serializers.PrimaryKeyRelatedField(
        queryset=Customer.objects.all(), help_text="The customer absorbed into this one (and deleted)."
    )


class MergeResultSerializer(serializers.ModelSerializer[MergeRecord]):
    survivor = CustomerSerializer(read_only=True)

    class Meta:
        model = MergeRecord
        fields = ["id", "merged_customer_id", "merged_by", "merged_at", "survivor"]
        read_only_fields = fields


class ContactPointCreateSerializer(ContactInputSerializer):
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.filter(is_erased=False))
    region = serializers.CharField(min_length=2, max_length=2, required=False)


class ContactPointConsentSerializer(serializers.Serializer[ContactPoint]):
    """PATCH of a contact point changes consent only; value and kind stay (remove and add instead)."""

    do_not_call = serializers.BooleanField(required=False)
    email_opt_out = serializers.BooleanField(required=False)
    sms_opt_in = serializers.BooleanField(required=False)
    source = serializers.CharField(  # type: ignore[assignment]
        max_length=100, help_text="Where the consent came from, e.g. 'agent call', 'web form'."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                dict.fromkeys(
                    unknown, "Only consent can change; remove the contact point and add a new one instead."
                )
            )
        # The serializer runs partial (so an absent flag in a form is not read as False), which
        # also skips `required`: the source is checked here.
        if not (attrs.get("source") or "").strip():
            raise serializers.ValidationError({"source": ["This field is required."]})
        if not any(name in attrs for name in CONSENT_FIELDS):
            raise serializers.ValidationError(f"Give at least one of {', '.join(CONSENT_FIELDS)}.")
        return attrs


class NoteSerializer(serializers.ModelSerializer[Note]):
    author_name = serializers.SerializerMethodField()

    class Meta:
        model = Note
        fields = ["id", "customer", "author", "author_name", "body", "created_at"]
        read_only_fields = fields

    def get_author_name(self, note: Note) -> str | None:
        if note.author is None:
            return None
        return note.author.get_full_name() or note.author.get_username()


class NoteCreateSerializer(serializers.Serializer[Note]):
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.filter(is_erased=False))
    body = serializers.CharField(max_length=20000)


class ImportJobSerializer(serializers.ModelSerializer[ImportJob]):
    progress_percent = serializers.IntegerField(read_only=True)
    errors_url = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "status",
            "source",
            "file_name",
            "mapping",
            "default_region",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "total_rows",
            "processed_rows",
            "progress_percent",
            "created_count",
            "updated_count",
            "unchanged_count",
            "rejected_count",
            "error_message",
            "errors_url",
        ]
        read_only_fields = fields

    def get_errors_url(self, job: ImportJob) -> str:
        return reverse("api:import-errors", args=[job.pk])


class ImportRowErrorSerializer(serializers.ModelSerializer[ImportRowError]):
    class Meta:
        model = ImportRowError
        fields = ["line_number", "reason", "raw"]
        read_only_fields = fields


class ImportStartSerializer(serializers.Serializer[ImportJob]):
    file = serializers.FileField(help_text="CSV or XLSX, first row = column headers.")
    mapping = serializers.JSONField(
        required=False,
        help_text='JSON object field -> column header, e.g. {"first_name": "First name", "phone": "Mobile"}.',
    )
    default_region = serializers.CharField(
        min_length=2,
        max_length=2,
        required=False,
        help_text="ISO country code for phone numbers written without one (default: the server's).",
    )

    def validate_mapping(self, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise serializers.ValidationError("Give a JSON object of field name -> column header.")
        return value


# ---------------------------------------------------------------------------------------------
# Viewsets
# ---------------------------------------------------------------------------------------------


def _customer_list_queryset() -> QuerySet[Customer]:
    # Contact points and tags prefetched: a list page costs the same queries for 1 row or 500.
    return customer_base_queryset().prefetch_related(
        Prefetch("contact_points", queryset=ContactPoint.objects.order_by("kind", "-is_primary", "id")),
        "tags",
    )


_CUSTOMER_FILTER_PARAMETERS = [
    OpenApiParameter("q", str, description="Search name, organization, email or phone (any format)."),
    OpenApiParameter("tag", str, description="Tag name."),
    OpenApiParameter("owner", str, description="Owner user id, 'me' or 'none'."),
    OpenApiParameter("organization", int, description="Organization id."),
    OpenApiParameter("lifecycle_stage", str, enum=LifecycleStage.values),
    OpenApiParameter("time_zone", str, description="IANA time zone, e.g. Europe/Paris."),
    OpenApiParameter("dnc", str, enum=["yes", "no"], description="Has a do-not-call phone."),
    OpenApiParameter("updated_since", OpenApiTypes.DATE, description="Changed on or after this day."),
]


@extend_schema_view(
    list=extend_schema(summary="List and filter customers", parameters=_CUSTOMER_FILTER_PARAMETERS),
    retrieve=extend_schema(summary="One customer with contact points, consent and tags"),
    create=extend_schema(
        summary="Create a customer with contact points",
        request=CustomerCreateSerializer,
        responses={
            201: CustomerSerializer,
            400: OpenApiResponse(description="Invalid field, contact or custom field"),
            409: OpenApiResponse(description="A contact point belongs to another customer"),
        },
    ),
    partial_update=extend_schema(
        summary="Change a customer",
        request=CustomerWriteSerializer,
        responses={200: CustomerSerializer, 400: OpenApiResponse(description="Invalid value")},
    ),
)
class CustomerViewSet(
    RolesByActionMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Customer],
):
    queryset = Customer.objects.all()
    serializer_class = CustomerSerializer
    lookup_value_regex = ID_LOOKUP_PATTERN
    filter_backends = [OrderingFilter]
    ordering_fields = ["updated_at", "created_at", "last_name"]
    http_method_names = ["get", "post", "patch", "head", "options"]
    action_roles = {
        "list": CRM_ROLES,
        "retrieve": CRM_ROLES,
        "lookup": CRM_ROLES,
        "create": AGENT_ROLES,
        "partial_update": AGENT_ROLES,
        "merge": SUPERVISION_ROLES,
        "erase": SUPERVISION_ROLES,
        "gdpr_export": SUPERVISION_ROLES,
        "import_file": IMPORT_ROLES,
    }

    def get_queryset(self) -> QuerySet[Customer]:
        if getattr(self, "swagger_fake_view", False):
            return Customer.objects.none()
        if self.action == "list":
            params = self.request.query_params.dict()
            if params.get("owner") == "me":
                params["owner"] = str(self.request.user.pk)
            elif (params.get("owner") or "").strip() not in {"", "none"}:
                params["owner"] = str(parse_id(params["owner"], field="owner"))
            if (params.get("organization") or "").strip():
                params["organization"] = str(parse_id(params["organization"], field="organization"))
            return customer_filter(params, _customer_list_queryset())
        if self.action in {"retrieve", "partial_update"}:
            return _customer_list_queryset()
        # merge, erase, gdpr-export: the services load and lock what they need.
        return Customer.objects.all()

    def _detail_response(self, customer: Customer, status_code: int = status.HTTP_200_OK) -> Response:
        data = CustomerSerializer(customer_detail(customer.pk), context=self.get_serializer_context()).data
        return Response(data, status=status_code)

    def create(self, request: Request) -> Response:
        form = CustomerCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        customer = customer_create(
            actor=request_user(request),
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            organization_name=data.get("organization_name", ""),
            job_title=data.get("job_title", ""),
            owner=data.get("owner"),
            lifecycle_stage=data.get("lifecycle_stage", LifecycleStage.LEAD),
            time_zone=data.get("time_zone", ""),
            external_id=data.get("external_id"),
            custom_fields=data.get("custom_fields"),
            contacts=[_contact_input(contact) for contact in data.get("contacts", [])],
            tags=data.get("tags", ()),
            region=data.get("region"),
        )
        response = self._detail_response(customer, status.HTTP_201_CREATED)
        response["Location"] = reverse("api:customer-detail", args=[customer.pk])
        return response

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        customer = self.get_object()
        form = CustomerWriteSerializer(data=request.data, partial=True, context={"customer": customer})
        form.is_valid(raise_exception=True)
        data = form.validated_data
        changes = {name: data[name] for name in _PLAIN_CUSTOMER_FIELDS if name in data}
        # One transaction: a bad tag must not leave the field changes half applied.
        with transaction.atomic():
            customer = customer_update(
                actor=request_user(request),
                customer=customer,
                organization_name=data.get("organization_name"),
                custom_fields=data.get("custom_fields"),
                **changes,
            )
            if "tags" in data:
                customer_set_tags(
                    actor=request_user(request), customer=customer, names=data["tags"], replace=True
                )
        return self._detail_response(customer)

    @extend_schema(
        summary="Find the customer who owns a phone number (any format) or email",
        parameters=[OpenApiParameter("contact", str, required=True, description="Phone or email.")],
        responses={200: CustomerSerializer, 404: OpenApiResponse(description="Nobody has this contact")},
    )
    @action(detail=False, methods=["get"])
    def lookup(self, request: Request) -> Response:
        contact = (request.query_params.get("contact") or "").strip()
        if not contact:
            raise serializers.ValidationError({"contact": ["Give a phone number or an email address."]})
        customer = find_customer(contact)
        if customer is None:
            return Response({"detail": "No customer has this contact."}, status=status.HTTP_404_NOT_FOUND)
        return self._detail_response(customer)

    @extend_schema(
        summary="Merge a duplicate into this customer",
        request=CustomerMergeSerializer,
        responses={200: MergeResultSerializer, 400: OpenApiResponse(description="Merge not allowed")},
    )
    @action(detail=True, methods=["post"])
    def merge(self, request: Request, pk: str | None = None) -> Response:
        survivor = self.get_object()
        form = CustomerMergeSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        record = customer_merge(
            actor=request_user(request),
            survivor=survivor,
            duplicate=form.validated_data["duplicate"],
        )
        record.survivor = customer_detail(record.survivor_id)
        return Response(MergeResultSerializer(record, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Everything held about this customer (GDPR access request)",
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"], url_path="gdpr-export", url_name="gdpr-export")
    def gdpr_export(self, request: Request, pk: str | None = None) -> Response:
        data = customer_export_personal_data(actor=request_user(request), customer=self.get_object())
        response = Response(data)
        response["Content-Disposition"] = f'attachment; filename="customer-{pk}-personal-data.json"'
        return response

    @extend_schema(
        summary="Erase this customer's personal data (GDPR); the anonymous row stays",
        request=None,
        responses={200: CustomerSerializer},
    )
    @action(detail=True, methods=["post"])
    def erase(self, request: Request, pk: str | None = None) -> Response:
        customer = customer_erase(actor=request_user(request), customer=self.get_object())
        return self._detail_response(customer)

    @extend_schema(
        summary="Import customers from a CSV or XLSX file",
        request={"multipart/form-data": ImportStartSerializer},
        responses={201: ImportJobSerializer, 400: OpenApiResponse(description="Unreadable file or mapping")},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        url_name="import",
        parser_classes=[MultiPartParser, FormParser],
    )
    def import_file(self, request: Request) -> Response:
        form = ImportStartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        uploaded = form.validated_data["file"]
        job = import_job_create(
            actor=request_user(request),
            uploaded_file=uploaded,
            file_name=uploaded.name,
            # No mapping: the service suggests one from the file's headers.
            mapping=form.validated_data.get("mapping"),
            default_region=(
                form.validated_data.get("default_region") or settings.DEFAULT_PHONE_REGION
            ).upper(),
            source="api",
        )
        data = ImportJobSerializer(job, context=self.get_serializer_context()).data
        return Response(
            data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api:import-detail", args=[job.pk])},
        )


_CUSTOMER_PARAMETER = OpenApiParameter("customer", int, description="Only this customer's.")


@extend_schema_view(
    list=extend_schema(summary="List contact points", parameters=[_CUSTOMER_PARAMETER]),
    retrieve=extend_schema(summary="One contact point with its consent"),
    create=extend_schema(
        summary="Add a contact point to a customer",
        request=ContactPointCreateSerializer,
        responses={
            201: ContactPointSerializer,
            400: OpenApiResponse(description="Invalid phone, email or handle"),
            409: OpenApiResponse(description="The contact point belongs to another customer"),
        },
    ),
    partial_update=extend_schema(
        summary="Change consent (do not call, email opt-out, SMS opt-in) with its source",
        request=ContactPointConsentSerializer,
        responses={200: ContactPointSerializer},
    ),
    destroy=extend_schema(summary="Remove a contact point"),
)
class ContactPointViewSet(
    RolesByActionMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[ContactPoint],
):
    queryset = ContactPoint.objects.all()
    serializer_class = ContactPointSerializer
    lookup_value_regex = ID_LOOKUP_PATTERN
    filter_backends: list[type[Any]] = []
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    action_roles = {
        "list": CRM_ROLES,
        "retrieve": CRM_ROLES,
        "create": AGENT_ROLES,
        "partial_update": AGENT_ROLES,
        "destroy": AGENT_ROLES,
    }

    def get_queryset(self) -> QuerySet[ContactPoint]:
        if getattr(self, "swagger_fake_view", False):
            return ContactPoint.objects.none()
        queryset = ContactPoint.objects.select_related("customer").order_by("customer_id", "kind", "id")
        if self.action == "list" and (customer_id := id_param(self.request, "customer")) is not None:
            queryset = queryset.filter(customer_id=customer_id)
        return queryset

    def create(self, request: Request) -> Response:
        form = ContactPointCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        point = contact_point_add(
            actor=request_user(request),
            customer=data["customer"],
            contact=_contact_input(data),
            region=data.get("region"),
        )
        return Response(
            ContactPointSerializer(point).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api:contact-point-detail", args=[point.pk])},
        )

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        point = self.get_object()
        form = ContactPointConsentSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        # All flags of one request land together or not at all.
        with transaction.atomic():
            for consent in CONSENT_FIELDS:
                if consent in data:
                    point = contact_point_set_consent(
                        actor=request_user(request),
                        contact_point=point,
                        consent=consent,
                        value=data[consent],
                        source=data["source"],
                    )
        return Response(ContactPointSerializer(point).data)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        contact_point_remove(actor=request_user(request), contact_point=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="List notes, newest first", parameters=[_CUSTOMER_PARAMETER]),
    retrieve=extend_schema(summary="One note"),
    create=extend_schema(
        summary="Add a note to a customer (notes are never changed afterwards)",
        request=NoteCreateSerializer,
        responses={201: NoteSerializer},
    ),
)
class NoteViewSet(
    RolesByActionMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Note],
):
    queryset = Note.objects.all()
    serializer_class = NoteSerializer
    lookup_value_regex = ID_LOOKUP_PATTERN
    filter_backends: list[type[Any]] = []
    http_method_names = ["get", "post", "head", "options"]
    action_roles = {"list": CRM_ROLES, "retrieve": CRM_ROLES, "create": AGENT_ROLES}

    def get_queryset(self) -> QuerySet[Note]:
        if getattr(self, "swagger_fake_view", False):
            return Note.objects.none()
        queryset = Note.objects.select_related("author").order_by("-created_at", "-id")
        if self.action == "list" and (customer_id := id_param(self.request, "customer")) is not None:
            queryset = queryset.filter(customer_id=customer_id)
        return queryset

    def create(self, request: Request) -> Response:
        form = NoteCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        note = note_add(
            actor=request_user(request),
            customer=form.validated_data["customer"],
            body=form.validated_data["body"],
        )
        return Response(
            NoteSerializer(note).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api:note-detail", args=[note.pk])},
        )


@extend_schema_view(retrieve=extend_schema(summary="An import job: status, counts and progress"))
class ImportJobViewSet(RolesByActionMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[ImportJob]):
    queryset = ImportJob.objects.all()
    serializer_class = ImportJobSerializer
    lookup_value_regex = ID_LOOKUP_PATTERN
    filter_backends: list[type[Any]] = []
    action_roles = {"retrieve": IMPORT_ROLES, "errors": IMPORT_ROLES}

    def get_queryset(self) -> QuerySet[ImportJob]:
        # Someone else's job is a 404: a Marketer sees only the jobs they started.
        return import_jobs_visible_to(self.request.user)

    @extend_schema(
        summary="Rejected rows of an import, by line number", responses=ImportRowErrorSerializer(many=True)
    )
    @action(detail=True, methods=["get"])
    def errors(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        rows = ImportRowError.objects.filter(job=job).order_by("line_number", "id")
        page = self.paginate_queryset(rows)  # type: ignore[arg-type]  # another model than the viewset's
        return self.get_paginated_response(ImportRowErrorSerializer(page, many=True).data)  # type: ignore[arg-type]


def register(router: BaseRouter) -> None:
    router.register("customers", CustomerViewSet, basename="customer")
    router.register("contact-points", ContactPointViewSet, basename="contact-point")
    router.register("notes", NoteViewSet, basename="note")
    router.register("imports", ImportJobViewSet, basename="import")
