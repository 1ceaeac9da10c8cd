"""REST API of outbound campaigns (/api/v1/): campaigns with their contact lists, retry rules,
status actions, live figures and dispositions; contact lists; leads with their attempts;
do-not-call lists and entries; the compliance gate's contact log.

Thin: serializers parse and render, the services in apps.campaigns.services.* write and check
who may act. Marketers and admins manage; supervisors read everything; agents read only the
campaigns their queues work (and what those campaigns' wrap-up offers), never leads or lists.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import Count, Prefetch, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from apps.accounts.models import User
from apps.accounts.roles import Role, has_role
from apps.campaigns.models import (
    ALL_DAYS,
    DIALLABLE_STATUSES,
    AttemptStatus,
    BroadcastAction,
    Campaign,
    CampaignChannel,
    CampaignList,
    CampaignStatus,
    ContactList,
    ContactLog,
    DncEntry,
    DncList,
    DncListKind,
    Lead,
    LeadAttempt,
    LeadStatus,
    ListSource,
    RetryRule,
)
from apps.campaigns.services.audience import (
    ListLink,
    RetrySetting,
    campaign_lists_set,
    campaign_retry_rules_set,
)
from apps.campaigns.services.campaigns import (
    EDITABLE_FIELDS,
    campaign_create,
    campaign_set_status,
    campaign_update,
)
from apps.campaigns.services.dnc import dnc_entry_add, dnc_list_create
from apps.campaigns.services.lists import contact_list_create_from_upload
from apps.core.api import (
    ID_LOOKUP_PATTERN,
    bool_param,
    choice_param,
    datetime_param,
    id_param,
    int_param,
    request_user,
    text_param,
)
from apps.core.permissions import CRM_ROLES, RolesByActionMixin
from apps.customers.exceptions import InvalidContact
from apps.customers.models import ImportJob
from apps.customers.normalize import normalize_phone
from apps.interactions.api import DispositionSerializer
from apps.interactions.models import Disposition, DispositionCategory

MANAGERS = (Role.MARKETER, Role.ADMIN)
"""Roles that create and change campaigns, lists, leads and do-not-call lists."""
READERS = (Role.SUPERVISOR, Role.MARKETER, Role.ADMIN)
"""Roles that read every campaign, list, lead, do-not-call entry and contact log row."""

SMALLINT_MAX = 32767
INT_MAX = 2147483647
ABANDON_RATE_DAYS = 30

_CONFLICT = OpenApiResponse(description="The campaign is completed, or cannot move to that status")


def phone_param(request: Request, name: str) -> str | None:
    raw = text_param(request, name)
    if raw is None:
        return None
    try:
        return normalize_phone(raw)
    except InvalidContact as exc:
        raise serializers.ValidationError({name: [str(exc)]}) from exc


# ---------------------------------------------------------------------------------------------
# Serializers
# ---------------------------------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$",
        "example": "09:00",
        "description": "Wall-clock time HH:MM in each lead's own time zone (no offset).",
    }
)
class WallClockField(serializers.TimeField):
    """A calling window's edge: a local wall-clock time, which OpenAPI's "time" format (an
    RFC 3339 time with its offset) does not describe."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%H:%M", input_formats=["%H:%M", "%H:%M:%S"], **kwargs)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "format": "uri", "maxLength": 200},
            {"type": "string", "enum": [""]},
        ],
        "description": "A recorded message's URL, or empty.",
    }
)
class OptionalURLField(serializers.URLField):
    """A URL or nothing: OpenAPI's "uri" format alone would call the empty value invalid."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=200, allow_blank=True, **kwargs)


def _whole_item(item: serializers.Serializer[Any], data: Any) -> dict[str, Any]:
    """One item of a list the request replaces as a whole. A PATCH makes DRF skip the required
    check of nested fields too, but a rule or a list link without its required part means nothing."""
    if isinstance(data, Mapping):
        missing = [
            name
            for name, field in item.fields.items()
            if field.required and not field.read_only and name not in data
        ]
        if missing:
            raise serializers.ValidationError(dict.fromkeys(missing, ["This field is required."]))
    return dict(serializers.Serializer.to_internal_value(item, data))


class RetryRuleSerializer(serializers.ModelSerializer[RetryRule]):
    """A rule as the campaign reads it: per category, or (set in the admin) per disposition."""

    class Meta:
        model = RetryRule
        fields = ["id", "category", "disposition", "delay_minutes", "max_attempts"]
        read_only_fields = fields


class RetryRuleWriteSerializer(serializers.Serializer[RetrySetting]):
    """A category's retry rule, as campaign_retry_rules_set takes it."""

    category = serializers.ChoiceField(choices=DispositionCategory.choices)
    delay_minutes = serializers.IntegerField(
        min_value=1, max_value=INT_MAX, help_text="Minutes before a lead that ended this way is due again."
    )
    max_attempts = serializers.IntegerField(
        min_value=1,
        max_value=SMALLINT_MAX,
        required=False,
        allow_null=True,
        default=None,
        help_text="Stop retrying after this many attempts ending this way (empty: no limit).",
    )

    def to_internal_value(self, data: Any) -> RetrySetting:
        # A rule for one disposition is not written here; accepting the key and dropping it
        # would quietly turn that rule into one for its whole category.
        if isinstance(data, Mapping) and data.get("disposition") is not None:
            raise serializers.ValidationError(
                {"disposition": ["Rules here are per category; set a rule for one disposition in the admin."]}
            )
        values = _whole_item(self, data)
        return RetrySetting(values["category"], values["delay_minutes"], values.get("max_attempts"))


class CampaignListSerializer(serializers.ModelSerializer[CampaignList]):
    class Meta:
        model = CampaignList
        fields = ["contact_list", "priority", "weight"]
        read_only_fields = fields


class CampaignListWriteSerializer(serializers.Serializer[ListLink]):
    """A contact list the campaign dials, as campaign_lists_set takes it."""

    contact_list = serializers.PrimaryKeyRelatedField(queryset=ContactList.objects.all())
    priority = serializers.IntegerField(
        min_value=0,
        max_value=SMALLINT_MAX,
        required=False,
        default=0,
        help_text="Higher lists are dialled first.",
    )
    weight = serializers.IntegerField(
        min_value=1,
        max_value=SMALLINT_MAX,
        required=False,
        default=1,
        help_text="Among lists of one priority, leads are drawn in proportion to weight.",
    )

    def to_internal_value(self, data: Any) -> ListLink:
        values = _whole_item(self, data)
        return ListLink(values["contact_list"].pk, values.get("priority", 0), values.get("weight", 1))


CAMPAIGN_SETTINGS = ["name", *sorted(EDITABLE_FIELDS - {"name"})]
"""The settings a client reads and writes: the ones campaign_create and campaign_update accept."""


class CampaignSerializer(serializers.ModelSerializer[Campaign]):
    retry_rules = RetryRuleSerializer(many=True, read_only=True)
    lists = CampaignListSerializer(
        source="active_list_links",
        many=True,
        read_only=True,
        help_text="The contact lists the campaign dials, highest priority first.",
    )
    window_start = WallClockField(read_only=True)
    recording_url = OptionalURLField(read_only=True)
    window_end = WallClockField(read_only=True)
    window_days = serializers.ListField(child=serializers.ChoiceField(choices=ALL_DAYS), read_only=True)
    broadcast_action = serializers.ChoiceField(
        choices=BroadcastAction.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Campaign
        fields = [
            "id",
            "status",
            *CAMPAIGN_SETTINGS,
            "retry_rules",
            "lists",
            "created_by",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields


class CampaignWriteSerializer(serializers.ModelSerializer[Campaign]):
    """The settings a client may set; PATCH any subset. PUT needs the name and leaves absent
    settings as they are. `retry_rules`, when given, are exactly the campaign's rules per
    category (rules for one disposition stay as they are); `lists`, when given, are exactly the
    contact lists it dials. Only parses: the services write."""

    # The model's unique check would need the instance; campaign_create/update name a taken name.
    name = serializers.CharField(max_length=100)
    window_start = WallClockField(required=False)
    window_end = WallClockField(required=False, help_text="After window_start.")
    window_days = serializers.ListField(
        child=serializers.ChoiceField(choices=ALL_DAYS), required=False, min_length=1, max_length=7
    )
    recording_url = OptionalURLField(required=False)
    retry_rules = RetryRuleWriteSerializer(many=True, required=False)
    lists = CampaignListWriteSerializer(many=True, required=False)

    class Meta:
        model = Campaign
        fields = [*CAMPAIGN_SETTINGS, "retry_rules", "lists"]
        extra_kwargs = {
            "description": {"max_length": 5000},
            "message_body": {"max_length": 20000},
            "lines_per_agent": {"min_value": 0},
            "max_abandon_percent": {"min_value": 0, "max_value": 100},
            # The column's range is the database's (SQLite's is 64 bits): the schema states ours.
            "max_attempts_per_lead": {"min_value": 1, "max_value": SMALLINT_MAX},
            "max_attempts_per_number": {"min_value": 1, "max_value": SMALLINT_MAX},
            "sends_per_minute": {"min_value": 1, "max_value": INT_MAX},
            "time_zone": {"help_text": "IANA zone, e.g. America/Chicago."},
        }

    def validate_retry_rules(self, rules: list[RetrySetting]) -> list[RetrySetting]:
        categories = [rule.category for rule in rules]
        if twice := sorted({category for category in categories if categories.count(category) > 1}):
            raise serializers.ValidationError(f"Category {twice[0]} has two rules; give each category one.")
        return rules

    def validate_lists(self, links: list[ListLink]) -> list[ListLink]:
        ids = [link.contact_list_id for link in links]
        if twice := sorted({list_id for list_id in ids if ids.count(list_id) > 1}):
            raise serializers.ValidationError(f"Contact list {twice[0]} is given twice; give each list once.")
        return links


class StatusChangeSerializer(serializers.Serializer[Campaign]):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class LeadCountsSerializer(serializers.Serializer[Any]):
    """Leads of the campaign in each status."""

    def get_fields(self) -> dict[str, serializers.Field]:  # type: ignore[type-arg]
        return {value: serializers.IntegerField() for value in LeadStatus.values}


class CampaignStatsSerializer(serializers.Serializer[Any]):
    leads_total = serializers.IntegerField()
    leads_by_status = LeadCountsSerializer()
    attempts_today = serializers.IntegerField(help_text="Started since midnight in the campaign's time zone.")
    answered_today = serializers.IntegerField()
    connected_today = serializers.IntegerField(help_text="Answered calls an agent took.")
    abandoned_today = serializers.IntegerField(help_text="Answered calls no agent took in time.")
    abandon_rate_30_days = serializers.FloatField(
        allow_null=True,
        help_text="Abandoned / answered calls over the last 30 days, in percent; null before any answer.",
    )
    max_abandon_percent = serializers.DecimalField(max_digits=4, decimal_places=2)


class ImportProgressSerializer(serializers.ModelSerializer[ImportJob]):
    progress_percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "status",
            "file_name",
            "total_rows",
            "processed_rows",
            "progress_percent",
            "created_count",
            "updated_count",
            "rejected_count",
            "error_message",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ContactListSerializer(serializers.ModelSerializer[ContactList]):
    import_job = ImportProgressSerializer(read_only=True, allow_null=True)
    rejected_count = serializers.SerializerMethodField()
    campaigns = serializers.SerializerMethodField()
    segment_filters = serializers.DictField(read_only=True)

    class Meta:
        model = ContactList
        fields = [
            "id",
            "name",
            "source",
            "lead_count",
            "rejected_count",
            "import_job",
            "campaigns",
            "segment_filters",
            "appointment_field",
            "remind_hours_before",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_rejected_count(self, contact_list: ContactList) -> int:
        """Rows of the uploaded file refused at import (0 for a segment)."""
        job = contact_list.import_job
        return job.rejected_count if job is not None else 0

    def get_campaigns(self, contact_list: ContactList) -> list[int]:
        """Ids of the campaigns the list is attached to."""
        return [link.campaign_id for link in contact_list.campaign_links.all()]


class ContactListUploadSerializer(serializers.Serializer[ContactList]):
    name = serializers.CharField(max_length=100)
    file = serializers.FileField(help_text="CSV or XLSX, first row = column headers.")
    mapping = serializers.JSONField(
        required=False,
        help_text='JSON object field -> column header, e.g. {"phone": "Mobile"}; none: suggested from the headers.',
    )
    default_region = serializers.CharField(
        min_length=2,
        max_length=2,
        required=False,
        default="US",
        help_text="For numbers without a country code.",
    )
    campaign = serializers.PrimaryKeyRelatedField(
        queryset=Campaign.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Attach the list to this campaign.",
    )
    priority = serializers.IntegerField(min_value=0, max_value=SMALLINT_MAX, required=False, default=0)
    weight = serializers.IntegerField(min_value=1, max_value=SMALLINT_MAX, required=False, default=1)
    appointment_field = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    remind_hours_before = serializers.IntegerField(
        min_value=0, max_value=SMALLINT_MAX, required=False, allow_null=True, default=None
    )

    def validate_mapping(self, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise serializers.ValidationError("Give a JSON object of field name -> column header.")
        return value


class LeadAttemptSerializer(serializers.ModelSerializer[LeadAttempt]):
    disposition_code = serializers.CharField(
        source="disposition.code", read_only=True, default=None, allow_null=True
    )
    outcome = serializers.CharField(read_only=True, help_text="The gateway's: answered, busy, machine...")

    class Meta:
        model = LeadAttempt
        fields = [
            "id",
            "channel",
            "contact",
            "status",
            "outcome",
            "disposition",
            "disposition_code",
            "agent",
            "interaction",
            "skip_reason",
            "started_at",
            "answered_at",
            "connected_at",
            "ended_at",
        ]
        read_only_fields = fields


class LeadSerializer(serializers.ModelSerializer[Lead]):
    last_disposition_code = serializers.CharField(
        source="last_disposition.code", read_only=True, default=None, allow_null=True
    )
    time_zones = serializers.ListField(child=serializers.CharField(), read_only=True)
    fields = serializers.DictField(read_only=True)  # type: ignore[assignment]
    appointment_answer = serializers.CharField(read_only=True, help_text="confirmed, cancelled or empty")

    class Meta:
        model = Lead
        fields = [
            "id",
            "campaign",
            "contact_list",
            "customer",
            "contact",
            "time_zones",
            "status",
            "priority",
            "attempts",
            "last_attempt_at",
            "last_disposition",
            "last_disposition_code",
            "next_attempt_at",
            "callback_at",
            "callback_owner",
            "fields",
            "appointment_at",
            "appointment_answer",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class LeadDetailSerializer(LeadSerializer):
    attempt_history = LeadAttemptSerializer(source="lead_attempts", many=True, read_only=True)

    class Meta(LeadSerializer.Meta):
        fields = [*LeadSerializer.Meta.fields, "attempt_history"]
        read_only_fields = fields


class DncListSerializer(serializers.ModelSerializer[DncList]):
    class Meta:
        model = DncList
        fields = ["id", "name", "kind", "campaign", "source", "entry_count", "loaded_at", "created_at"]
        read_only_fields = fields


class DncListCreateSerializer(serializers.Serializer[DncList]):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=[DncListKind.CAMPAIGN, DncListKind.NATIONAL])
    campaign = serializers.PrimaryKeyRelatedField(
        queryset=Campaign.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="The campaign a campaign list applies to (empty for a national list).",
    )
    source = serializers.CharField(  # type: ignore[assignment]
        max_length=200, required=False, allow_blank=True, default="", help_text="Where the numbers come from."
    )


class DncEntrySerializer(serializers.ModelSerializer[DncEntry]):
    class Meta:
        model = DncEntry
        fields = ["id", "dnc_list", "number", "reason", "added_at"]
        read_only_fields = fields


class DncEntryCreateSerializer(serializers.Serializer[DncEntry]):
    number = serializers.CharField(max_length=32, help_text="Any written form; stored as E.164.")
    dnc_list = serializers.PrimaryKeyRelatedField(
        queryset=DncList.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Empty: the internal do-not-call list.",
    )
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate_number(self, value: str) -> str:
        try:
            return normalize_phone(value)
        except InvalidContact as exc:
            raise serializers.ValidationError(str(exc)) from exc


class ContactLogSerializer(serializers.ModelSerializer[ContactLog]):
    channel = serializers.CharField(read_only=True)
    customer_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = ContactLog
        fields = [
            "id",
            "at",
            "campaign",
            "lead",
            "customer_id",
            "channel",
            "contact",
            "local_time",
            "allowed",
            "rule",
            "detail",
        ]
        read_only_fields = fields


# ---------------------------------------------------------------------------------------------
# Reads
# ---------------------------------------------------------------------------------------------


def campaigns_visible_to(user: User) -> QuerySet[Campaign]:
    """Readers see every campaign; an agent only those their queues work."""
    queryset = Campaign.objects.all()
    if not has_role(user, *READERS):
        queryset = queryset.filter(queue__agents__user=user).distinct()
    return queryset


def _with_rules_and_lists(queryset: QuerySet[Campaign]) -> QuerySet[Campaign]:
    """What CampaignSerializer renders besides the row: two queries for any number of campaigns."""
    return queryset.prefetch_related(
        Prefetch("retry_rules", queryset=RetryRule.objects.order_by("category", "id")),
        Prefetch(
            "list_links",
            queryset=CampaignList.objects.filter(is_active=True).order_by("-priority", "id"),
            to_attr="active_list_links",
        ),
    )


def campaign_stats(campaign: Campaign, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The campaign's figures in two queries whatever its size: leads by status, and today's
    attempts (since midnight in the campaign's time zone) with the 30-day abandon rate, which is
    abandoned / answered calls in percent (the FTC's measure, over 30 days)."""
    now = now or timezone.now()
    try:
        zone = zoneinfo.ZoneInfo(campaign.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    midnight = dt.datetime.combine(now.astimezone(zone).date(), dt.time(), tzinfo=zone)
    month_ago = now - dt.timedelta(days=ABANDON_RATE_DAYS)
    counts = dict.fromkeys(LeadStatus.values, 0)
    for row in Lead.objects.filter(campaign=campaign).values("status").annotate(n=Count("id")).order_by():
        counts[row["status"]] = row["n"]
    today = Q(started_at__gte=midnight)
    figures = LeadAttempt.objects.filter(
        campaign=campaign, started_at__gte=min(midnight, month_ago)
    ).aggregate(
        attempts_today=Count("id", filter=today),
        answered_today=Count("id", filter=today & Q(answered_at__isnull=False)),
        connected_today=Count("id", filter=today & Q(connected_at__isnull=False)),
        abandoned_today=Count("id", filter=today & Q(status=AttemptStatus.ABANDONED)),
        answered_month=Count("id", filter=Q(started_at__gte=month_ago, answered_at__isnull=False)),
        abandoned_month=Count("id", filter=Q(started_at__gte=month_ago, status=AttemptStatus.ABANDONED)),
    )
    answered_month = figures.pop("answered_month")
    abandoned_month = figures.pop("abandoned_month")
    rate = round(100 * abandoned_month / answered_month, 2) if answered_month else None
    return {
        "leads_total": sum(counts.values()),
        "leads_by_status": counts,
        **figures,
        "abandon_rate_30_days": rate,
        "max_abandon_percent": campaign.max_abandon_percent,
    }


def campaign_dispositions(campaign: Campaign) -> QuerySet[Disposition]:
    """What its agents choose from at wrap-up: the campaign's set, else its queue's, else the
    whole active catalog (as the desk offers for a queue without a set)."""
    queryset = Disposition.objects.filter(is_active=True).order_by("label", "id")
    set_id = campaign.disposition_set_id
    if set_id is None and campaign.queue is not None:
        set_id = campaign.queue.disposition_set_id
    if set_id is not None:
        queryset = queryset.filter(sets=set_id)
    return queryset


# ---------------------------------------------------------------------------------------------
# Viewsets
# ---------------------------------------------------------------------------------------------

_ID = "Id of the row."


@extend_schema_view(
    list=extend_schema(
        summary="List campaigns (agents: the campaigns their queues work)",
        parameters=[
            OpenApiParameter("status", str, enum=CampaignStatus.values),
            OpenApiParameter("channel", str, enum=CampaignChannel.values),
        ],
    ),
    retrieve=extend_schema(summary="One campaign with its retry rules"),
    create=extend_schema(
        summary="Create a draft campaign",
        request=CampaignWriteSerializer,
        responses={201: CampaignSerializer},
    ),
    update=extend_schema(
        summary="Change a campaign's settings (absent settings stay as they are)",
        request=CampaignWriteSerializer,
        responses={200: CampaignSerializer, 409: _CONFLICT},
    ),
    partial_update=extend_schema(
        summary="Change some of a campaign's settings",
        request=CampaignWriteSerializer,
        responses={200: CampaignSerializer, 409: _CONFLICT},
    ),
)
class CampaignViewSet(
    RolesByActionMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Campaign],
):
    """No delete: a campaign that is over is completed, and its history stays."""

    serializer_class = CampaignSerializer
    lookup_value_regex = ID_LOOKUP_PATTERN
    filter_backends: list[type[Any]] = []
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    action_roles = {
        "list": CRM_ROLES,
        "retrieve": CRM_ROLES,
        "dispositions": CRM_ROLES,
        "stats": READERS,
        "create": MANAGERS,
        "update": MANAGERS,
        "partial_update": MANAGERS,
        "start": MANAGERS,
        "pause": MANAGERS,
        "resume": MANAGERS,
        "complete": MANAGERS,
    }

    def get_queryset(self) -> QuerySet[Campaign]:
        if getattr(self, "swagger_fake_view", False):
            return Campaign.objects.none()
        queryset = campaigns_visible_to(request_user(self.request)).order_by("-created_at", "-id")
        if self.action in ("list", "retrieve"):
            queryset = _with_rules_and_lists(queryset)
        if self.action == "list":
            if (status_value := choice_param(self.request, "status", CampaignStatus.values)) is not None:
                queryset = queryset.filter(status=status_value)
            if (channel := choice_param(self.request, "channel", CampaignChannel.values)) is not None:
                queryset = queryset.filter(channel=channel)
        return queryset

    def _fresh(self, campaign_id: int, status_code: int = status.HTTP_200_OK) -> Response:
        """The campaign as the write left it (only managers write, and they see every campaign)."""
        campaign = _with_rules_and_lists(Campaign.objects.all()).get(pk=campaign_id)
        return Response(CampaignSerializer(campaign).data, status=status_code)

    def _audience(self, actor: User, campaign_id: int, data: dict[str, Any]) -> None:
        """The lists and retry rules of the request, when it gives them (inside its transaction)."""
        if (links := data.get("lists")) is not None:
            campaign_lists_set(actor=actor, campaign_id=campaign_id, links=links)
        if (rules := data.get("retry_rules")) is not None:
            campaign_retry_rules_set(actor=actor, campaign_id=campaign_id, rules=rules)

    def create(self, request: Request) -> Response:
        form = CampaignWriteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        actor = request_user(request)
        settings = {name: value for name, value in data.items() if name in EDITABLE_FIELDS}
        with transaction.atomic():  # the campaign, its lists and its rules land together or not at all
            campaign = campaign_create(actor=actor, **settings)
            self._audience(actor, campaign.pk, data)
        response = self._fresh(campaign.pk, status.HTTP_201_CREATED)
        response["Location"] = reverse("api:campaign-detail", args=[campaign.pk])
        return response

    def _change(self, request: Request, *, partial: bool) -> Response:
        campaign = self.get_object()
        form = CampaignWriteSerializer(data=request.data, partial=partial)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        actor = request_user(request)
        settings = {name: value for name, value in data.items() if name in EDITABLE_FIELDS}
        with transaction.atomic():
            if settings or not ({"lists", "retry_rules"} & set(data)):
                # Even an empty PATCH goes through the service: a completed campaign says so.
                campaign_update(actor=actor, campaign_id=campaign.pk, **settings)
            self._audience(actor, campaign.pk, data)
        return self._fresh(campaign.pk)

    def update(self, request: Request, pk: str | None = None) -> Response:
        return self._change(request, partial=False)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self._change(request, partial=True)

    def _set_status(self, request: Request, to_status: str) -> Response:
        campaign = self.get_object()
        form = StatusChangeSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        campaign_set_status(
            actor=request_user(request),
            campaign_id=campaign.pk,
            to_status=to_status,
            reason=form.validated_data["reason"],
        )
        return self._fresh(campaign.pk)

    @extend_schema(
        summary="Start dialling (a draft or paused campaign becomes active)",
        request=StatusChangeSerializer,
        responses={200: CampaignSerializer, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None) -> Response:
        return self._set_status(request, CampaignStatus.ACTIVE)

    @extend_schema(
        summary="Pause: no new call or send from the next tick on",
        request=StatusChangeSerializer,
        responses={200: CampaignSerializer, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        return self._set_status(request, CampaignStatus.PAUSED)

    @extend_schema(
        summary="Resume a paused campaign",
        request=StatusChangeSerializer,
        responses={200: CampaignSerializer, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        return self._set_status(request, CampaignStatus.ACTIVE)

    @extend_schema(
        summary="Complete: the campaign is history and never dials again",
        request=StatusChangeSerializer,
        responses={200: CampaignSerializer, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str | None = None) -> Response:
        return self._set_status(request, CampaignStatus.COMPLETED)

    @extend_schema(
        summary="Leads by status, today's attempts and the 30-day abandon rate",
        responses=CampaignStatsSerializer,
    )
    @action(detail=True, methods=["get"])
    def stats(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        return Response(CampaignStatsSerializer(campaign_stats(campaign)).data)

    @extend_schema(
        summary="The dispositions agents choose from at wrap-up (the campaign's set, else its queue's)",
        responses=DispositionSerializer(many=True),
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def dispositions(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        rows = campaign_dispositions(Campaign.objects.select_related("queue").get(pk=campaign.pk))
        return Response(DispositionSerializer(rows, many=True).data)


@extend_schema_view(
    list=extend_schema(
        summary="List contact lists with their import progress",
        parameters=[
            OpenApiParameter("campaign", int, description="Only lists attached to this campaign."),
            OpenApiParameter("source", str, enum=ListSource.values),
        ],
    ),
    retrieve=extend_schema(summary="One contact list: leads, import status and progress, rejected rows"),
    create=extend_schema(
        summary="Upload a CSV or XLSX as a contact list (imported in the background)",
        request={"multipart/form-data": ContactListUploadSerializer},
        responses={
            201: ContactListSerializer,
            400: OpenApiResponse(description="Unreadable file, bad mapping or settings"),
        },
    ),
)
class ContactListViewSet(
    RolesByActionMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[ContactList],
):
    serializer_class = ContactListSerializer
    lookup_value_regex = ID_LOOKUP_PATTERN
    filter_backends: list[type[Any]] = []
    action_roles = {"list": READERS, "retrieve": READERS, "create": MANAGERS}
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self) -> QuerySet[ContactList]:
        queryset = (
            ContactList.objects.select_related("import_job")
            .prefetch_related("campaign_links")
            .order_by("-created_at", "-id")
        )
        if getattr(self, "swagger_fake_view", False) or self.action != "list":
            return queryset
        if (campaign_id := id_param(self.request, "campaign")) is not None:
            queryset = queryset.filter(campaign_links__campaign_id=campaign_id)
        if (source := choice_param(self.request, "source", ListSource.values)) is not None:
            queryset = queryset.filter(source=source)
        return queryset

    def create(self, request: Request) -> Response:
        """The list exists at once with its import job pending; its leads appear as the job's
        batches commit (follow import_job.progress_percent)."""
        form = ContactListUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        contact_list = contact_list_create_from_upload(
            actor=request_user(request),
            name=data["name"],
            uploaded_file=data["file"],
            mapping=data.get("mapping"),
            default_region=data["default_region"].upper(),
            campaign=data["campaign"],
            priority=data["priority"],
            weight=data["weight"],
            appointment_field=data["appointment_field"],
            remind_hours_before=data["remind_hours_before"],
        )
        return Response(
            ContactListSerializer(self.get_queryset().get(pk=contact_list.pk)).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api:contact-list-detail", args=[contact_list.pk])},
        )


_LEAD_FILTERS = [
    OpenApiParameter("campaign", int, description="Campaign id."),
    OpenApiParameter("contact_list", int, description="Contact list id."),
    OpenApiParameter("status", str, enum=LeadStatus.values),
    OpenApiParameter("disposition", int, description="Id of the last attempt's disposition."),
    OpenApiParameter("attempts_min", int, description="At least this many attempts."),
    OpenApiParameter("attempts_max", int, description="At most this many attempts."),
    OpenApiParameter("due", bool, description="true: diallable and due now; false: everything else."),
]


@extend_schema_view(
    list=extend_schema(summary="List and filter leads", parameters=_LEAD_FILTERS),
    retrieve=extend_schema(
        summary="One lead with its attempts, newest first", responses=LeadDetailSerializer
    ),
)
class LeadViewSet(RolesByActionMixin, viewsets.ReadOnlyModelViewSet[Lead]):
    """Leads change through imports, the dialer and the agents' wrap-ups, not here."""

    serializer_class = LeadSerializer
    lookup_value_regex = ID_LOOKUP_PATTERN
    filter_backends: list[type[Any]] = []
    action_roles = {"list": READERS, "retrieve": READERS}

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Lead]]:
        return LeadDetailSerializer if self.action == "retrieve" else LeadSerializer

    def get_queryset(self) -> QuerySet[Lead]:
        queryset = Lead.objects.select_related("last_disposition").order_by("campaign_id", "-priority", "id")
        if getattr(self, "swagger_fake_view", False):
            return queryset
        if self.action == "retrieve":
            attempts = LeadAttempt.objects.select_related("disposition").order_by("-started_at", "-id")
            return queryset.prefetch_related(Prefetch("lead_attempts", queryset=attempts))
        params = self.request
        if (campaign_id := id_param(params, "campaign")) is not None:
            queryset = queryset.filter(campaign_id=campaign_id)
        if (list_id := id_param(params, "contact_list")) is not None:
            queryset = queryset.filter(contact_list_id=list_id)
        if (status_value := choice_param(params, "status", LeadStatus.values)) is not None:
            queryset = queryset.filter(status=status_value)
        if (disposition_id := id_param(params, "disposition")) is not None:
            queryset = queryset.filter(last_disposition_id=disposition_id)
        if (low := int_param(params, "attempts_min", low=0, high=SMALLINT_MAX)) is not None:
            queryset = queryset.filter(attempts__gte=low)
        if (high := int_param(params, "attempts_max", low=0, high=SMALLINT_MAX)) is not None:
            queryset = queryset.filter(attempts__lte=high)
        if (due := bool_param(params, "due")) is not None:
            due_now = Q(status__in=DIALLABLE_STATUSES) & (
                Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now())
            )
            queryset = queryset.filter(due_now) if due else queryset.exclude(due_now)
        return queryset


@extend_schema_view(
    list=extend_schema(
        summary="List do-not-call lists",
        parameters=[
            OpenApiParameter("kind", str, enum=DncListKind.values),
            OpenApiParameter("campaign", int, description="Campaign id."),
        ],
    ),
    retrieve=extend_schema(summary="One do-not-call list"),
    create=extend_schema(
        summary="Create a campaign's or a national do-not-call list",
        request=DncListCreateSerializer,
        responses={201: DncListSerializer},
    ),
)
class DncListViewSet(
    RolesByActionMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[DncList],
):
    serializer_class = DncListSerializer
    lookup_value_regex = ID_LOOKUP_PATTERN
    filter_backends: list[type[Any]] = []
    action_roles = {"list": READERS, "retrieve": READERS, "create": MANAGERS}

    def get_queryset(self) -> QuerySet[DncList]:
        queryset = DncList.objects.order_by("kind", "name")
        if getattr(self, "swagger_fake_view", False) or self.action != "list":
            return queryset
        if (kind := choice_param(self.request, "kind", DncListKind.values)) is not None:
            queryset = queryset.filter(kind=kind)
        if (campaign_id := id_param(self.request, "campaign")) is not None:
            queryset = queryset.filter(campaign_id=campaign_id)
        return queryset

    def create(self, request: Request) -> Response:
        form = DncListCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        dnc_list = dnc_list_create(actor=request_user(request), **form.validated_data)
        return Response(
            DncListSerializer(dnc_list).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api:dnc-list-detail", args=[dnc_list.pk])},
        )


@extend_schema_view(
    list=extend_schema(
        summary="Look up do-not-call entries",
        parameters=[
            OpenApiParameter("number", str, description="Any written form of a phone number."),
            OpenApiParameter("dnc_list", int, description="Do-not-call list id."),
        ],
    ),
    retrieve=extend_schema(summary="One do-not-call entry"),
    create=extend_schema(
        summary="Put a number on a do-not-call list (default: the internal list)",
        request=DncEntryCreateSerializer,
        responses={201: DncEntrySerializer},
    ),
)
class DncEntryViewSet(
    RolesByActionMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[DncEntry],
):
    serializer_class = DncEntrySerializer
    lookup_value_regex = ID_LOOKUP_PATTERN
    filter_backends: list[type[Any]] = []
    action_roles = {"list": READERS, "retrieve": READERS, "create": MANAGERS}

    def get_queryset(self) -> QuerySet[DncEntry]:
        queryset = DncEntry.objects.order_by("number", "dnc_list_id")
        if getattr(self, "swagger_fake_view", False) or self.action != "list":
            return queryset
        if (number := phone_param(self.request, "number")) is not None:
            queryset = queryset.filter(number=number)
        if (list_id := id_param(self.request, "dnc_list")) is not None:
            queryset = queryset.filter(dnc_list_id=list_id)
        return queryset

    def create(self, request: Request) -> Response:
        form = DncEntryCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        entry = dnc_entry_add(
            actor=request_user(request),
            number=data["number"],
            reason=data["reason"],
            dnc_list=data["dnc_list"],
        )
        return Response(
            DncEntrySerializer(entry).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api:dnc-entry-detail", args=[entry.pk])},
        )


@extend_schema_view(
    list=extend_schema(
        summary="The compliance gate's decisions, newest first",
        parameters=[
            OpenApiParameter("campaign", int, description="Campaign id."),
            OpenApiParameter("allowed", bool, description="true: allowed contacts; false: refusals."),
            OpenApiParameter("rule", str, description="The rule that decided, e.g. dnc, window."),
            OpenApiParameter("channel", str, enum=CampaignChannel.values),
            OpenApiParameter("contact", str, description="A phone number (any written form) or an email."),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="At or after (ISO 8601)."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="Before (ISO 8601)."),
        ],
    )
)
class ContactLogViewSet(RolesByActionMixin, mixins.ListModelMixin, viewsets.GenericViewSet[ContactLog]):
    serializer_class = ContactLogSerializer
    filter_backends: list[type[Any]] = []
    action_roles = {"list": READERS}

    def get_queryset(self) -> QuerySet[ContactLog]:
        queryset = ContactLog.objects.order_by("-at", "-id")
        if getattr(self, "swagger_fake_view", False):
            return queryset
        params = self.request
        if (campaign_id := id_param(params, "campaign")) is not None:
            queryset = queryset.filter(campaign_id=campaign_id)
        if (allowed := bool_param(params, "allowed")) is not None:
            queryset = queryset.filter(allowed=allowed)
        if rule := text_param(params, "rule"):
            queryset = queryset.filter(rule=rule[:32])
        if (channel := choice_param(params, "channel", CampaignChannel.values)) is not None:
            queryset = queryset.filter(channel=channel)
        if contact := text_param(params, "contact"):
            try:
                contact = normalize_phone(contact)
            except InvalidContact:
                contact = contact.lower()
            queryset = queryset.filter(contact=contact)
        if (since := datetime_param(params, "since")) is not None:
            queryset = queryset.filter(at__gte=since)
        if (until := datetime_param(params, "until")) is not None:
            queryset = queryset.filter(at__lt=until)
        return queryset


def register(router: BaseRouter) -> None:
    router.register("campaigns", CampaignViewSet, basename="campaign")
    router.register("contact-lists", ContactListViewSet, basename="contact-list")
    router.register("leads", LeadViewSet, basename="lead")
    router.register("dnc-lists", DncListViewSet, basename="dnc-list")
    router.register("dnc-entries", DncEntryViewSet, basename="dnc-entry")
    router.register("contact-log", ContactLogViewSet, basename="contact-log")
