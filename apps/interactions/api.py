"""REST API of the contact center (/api/v1/): interactions (create = enqueue and route) with
their messages and actions, queues with live stats, agents (read, set state), dispositions.

Thin: serializers parse and render, services write and check who may act on what (an agent
only on their own interactions), apps.core.api maps domain errors to HTTP.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from apps.accounts.models import User
from apps.accounts.roles import Role, has_role
from apps.core.api import ID_LOOKUP_PATTERN, MAX_ID, choice_param, id_param, request_user
from apps.core.permissions import AGENT_ROLES, CRM_ROLES, RolesByActionMixin
from apps.customers.models import Customer
from apps.interactions import selectors, services
from apps.interactions.models import (
    AgentProfile,
    CallOutcome,
    Channel,
    Direction,
    Disposition,
    Interaction,
    InteractionParticipant,
    InteractionStatus,
    Message,
    NotReadyReason,
    Presence,
    Queue,
)
from apps.interactions.voice import MONITOR_MODES

SUPERVISION = (Role.SUPERVISOR, Role.ADMIN)


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = (
            "id",
            "interaction",
            "direction",
            "sender",
            "body",
            "attachments",
            "provider",
            "provider_id",
            "created_at",
        )
        read_only_fields = fields


class MessageCreateSerializer(serializers.Serializer):
    body = serializers.CharField(allow_blank=True, max_length=20000)
    direction = serializers.ChoiceField(choices=Direction.choices, default=Direction.OUTBOUND)
    provider = serializers.CharField(required=False, allow_blank=True, max_length=32, default="")
    provider_id = serializers.CharField(required=False, allow_null=True, max_length=200, default=None)


class InteractionSerializer(serializers.ModelSerializer):
    disposition: serializers.SlugRelatedField[Disposition] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
    agent_username = serializers.CharField(
        source="agent.user.username", read_only=True, default=None, allow_null=True
    )
    queue_opens_at = serializers.SerializerMethodField()
    # Blank until an outbound call reports how it went: the schema says so (the model's choices do not).
    call_outcome = serializers.ChoiceField(choices=CallOutcome.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Interaction
        fields = (
            "id",
            "channel",
            "direction",
            "status",
            "customer",
            "contact",
            "queue",
            "agent",
            "agent_username",
            "priority",
            "subject",
            "disposition",
            "notes",
            "callback_at",
            "created_at",
            "queued_at",
            "offered_at",
            "offer_expires_at",
            "accepted_at",
            "wrap_up_at",
            "closed_at",
            "abandoned_at",
            "on_hold",
            "muted",
            "hold_started_at",
            "hold_seconds",
            "hold_count",
            "caller_id",
            "call_outcome",
            "queue_opens_at",
            "version",
        )
        read_only_fields = fields

    def get_queue_opens_at(self, interaction: Interaction) -> dt.datetime | None:
        """For an arrival missed because its queue was closed: when the queue opened next."""
        if interaction.status != InteractionStatus.MISSED or interaction.queue is None:
            return None
        return interaction.queue.next_open_at(interaction.closed_at or interaction.created_at)


def _optional_id(help_text: str) -> serializers.IntegerField:
    """An optional row id in a request body, bounded to what the database's ids can hold."""
    return serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=MAX_ID, help_text=help_text
    )


class TransferSerializer(serializers.Serializer):
    queue = _optional_id("Target queue id")
    agent = _optional_id("Target agent id")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class NotesSerializer(serializers.Serializer):
    notes = serializers.CharField(allow_blank=True, max_length=20000)


class VoiceControlSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=list(services.VOICE_ACTIONS))


class ConferenceSerializer(serializers.Serializer):
    agent = _optional_id("Agent id")
    number = serializers.CharField(required=False, allow_blank=True, default="", max_length=32)


class MonitorSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=list(MONITOR_MODES))


class ParticipantSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True, default=None)

    class Meta:
        model = InteractionParticipant
        fields = ("id", "interaction", "role", "agent", "user", "username", "number", "joined_at", "left_at")
        read_only_fields = fields


class InteractionCreateSerializer(serializers.Serializer):
    queue = serializers.PrimaryKeyRelatedField(queryset=Queue.objects.filter(is_active=True))
    channel = serializers.ChoiceField(choices=Channel.choices)
    contact = serializers.CharField(required=False, allow_blank=True, max_length=254, default="")
    direction = serializers.ChoiceField(choices=Direction.choices, default=Direction.INBOUND)
    priority = serializers.IntegerField(required=False, default=0, min_value=-100, max_value=100)
    subject = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class OriginateSerializer(serializers.Serializer):
    queue = serializers.PrimaryKeyRelatedField(
        queryset=Queue.objects.filter(is_active=True),
        help_text="The queue the call is placed from (serves voice).",
    )
    to_number = serializers.CharField(max_length=32, help_text="The number to call, e.g. +14155550100.")
    customer = serializers.PrimaryKeyRelatedField(
        queryset=Customer.objects.filter(is_erased=False),
        required=False,
        allow_null=True,
        default=None,
        help_text="Found by the number when not given.",
    )
    agent = serializers.PrimaryKeyRelatedField(
        queryset=AgentProfile.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Agent reserved for the call (preview/progressive dialing); none: the answered call is routed.",
    )
    caller_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=32)
    subject = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class WrapUpSerializer(serializers.Serializer):
    disposition: serializers.SlugRelatedField[Disposition] = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Disposition.objects.filter(is_active=True),
        required=False,
        allow_null=True,
    )
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=20000)
    callback_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class QueuePositionSerializer(serializers.Serializer):
    position = serializers.IntegerField(allow_null=True)
    estimated_wait_seconds = serializers.IntegerField(allow_null=True)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=InteractionStatus.values),
            OpenApiParameter("channel", str, enum=Channel.values),
            OpenApiParameter("queue", int, description="Queue id."),
        ]
    )
)
class InteractionViewSet(
    RolesByActionMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Agents see their own interactions and their queues' history; supervisors and admins
    see all. Creating one enqueues it and routes it at once."""

    serializer_class = InteractionSerializer
    lookup_value_regex = ID_LOOKUP_PATTERN
    action_roles = {
        "list": AGENT_ROLES,
        "retrieve": AGENT_ROLES,
        "create": SUPERVISION,
        # Agents place calls for themselves only (preview dialing); the service checks it.
        "originate": AGENT_ROLES,
        "accept": AGENT_ROLES,
        "reject": AGENT_ROLES,
        "end": AGENT_ROLES,
        "wrap_up": AGENT_ROLES,
        "abandon": SUPERVISION,
        "messages": AGENT_ROLES,
        "position": AGENT_ROLES,
        "transfer": AGENT_ROLES,
        "notes": AGENT_ROLES,
        "voice": AGENT_ROLES,
        "conference": AGENT_ROLES,
        "monitor": SUPERVISION,
        "participants": AGENT_ROLES,
    }

    def get_queryset(self) -> QuerySet[Interaction]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Interaction.objects.none()
        # The rule the desk applies too: agents their own and their queues', supervisors all.
        queryset = (
            selectors.interactions_visible_to(user=request_user(self.request))
            .select_related("disposition", "agent__user", "queue")
            .order_by("-created_at", "-id")
        )
        if self.action == "list":
            # Parsed before filtering: 'abc', '1.5' or an id no column holds is a 400 naming the
            # filter, not a database error.
            if (status_value := choice_param(self.request, "status", InteractionStatus.values)) is not None:
                queryset = queryset.filter(status=status_value)
            if (channel := choice_param(self.request, "channel", Channel.values)) is not None:
                queryset = queryset.filter(channel=channel)
            if (queue_id := id_param(self.request, "queue")) is not None:
                queryset = queryset.filter(queue_id=queue_id)
        return queryset

    @extend_schema(request=InteractionCreateSerializer, responses={201: InteractionSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Enqueue and route at once. 201 either way: status "missed" (with queue_opens_at) when
        the queue is closed and nothing takes the arrival after hours."""
        data = InteractionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        interaction = services.interaction_enqueue(actor=request_user(request), **data.validated_data)
        interaction.refresh_from_db()
        return Response(InteractionSerializer(interaction).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=OriginateSerializer,
        responses={
            201: InteractionSerializer,
            400: OpenApiResponse(description="Invalid number, queue or agent"),
            403: OpenApiResponse(description="Agents place calls only for themselves"),
            409: OpenApiResponse(description="Do-not-call number, or the agent is not free for a call"),
        },
    )
    @action(detail=False, methods=["post"])
    def originate(self, request: Request) -> Response:
        """Place an outbound call through the voice gateway: status "dialing", then what the
        call does (ringing, answered, busy, no answer, machine, failed) as the provider reports it.
        With an agent, the agent is reserved until the call is answered or ends."""
        data = OriginateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        interaction = services.interaction_originate(
            actor=request_user(request),
            queue=values["queue"],
            to_number=values["to_number"],
            customer=values["customer"],
            agent_id=values["agent"].pk if values["agent"] is not None else None,
            caller_id=values["caller_id"],
            subject=values["subject"],
        )
        response = self._fresh(interaction.pk)
        response.status_code = status.HTTP_201_CREATED
        return response

    def _act(self, request: Request, pk: str, run: Any) -> Response:
        instance = self.get_object()  # 404 for an interaction the user may not see
        run(actor=request_user(request), interaction_id=instance.pk)
        return Response(InteractionSerializer(self.get_queryset().get(pk=instance.pk)).data)

    @extend_schema(request=None, responses=InteractionSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str) -> Response:
        return self._act(request, pk, services.interaction_accept)

    @extend_schema(request=None, responses=InteractionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        return self._act(request, pk, services.interaction_reject)

    @extend_schema(request=None, responses=InteractionSerializer)
    @action(detail=True, methods=["post"])
    def end(self, request: Request, pk: str) -> Response:
        return self._act(request, pk, services.interaction_end)

    @extend_schema(request=WrapUpSerializer, responses=InteractionSerializer)
    @action(detail=True, methods=["post"], url_path="wrap-up")
    def wrap_up(self, request: Request, pk: str) -> Response:
        data = WrapUpSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        def run(*, actor: User, interaction_id: int) -> Interaction:
            values = data.validated_data
            return services.interaction_wrap_up(
                actor=actor,
                interaction_id=interaction_id,
                disposition=values.get("disposition"),
                notes=values.get("notes", ""),
                callback_at=values.get("callback_at"),
            )

        return self._act(request, pk, run)

    @extend_schema(request=None, responses=InteractionSerializer)
    @action(detail=True, methods=["post"])
    def abandon(self, request: Request, pk: str) -> Response:
        return self._act(
            request,
            pk,
            services.interaction_abandon,
        )

    def _fresh(self, interaction_id: int) -> Response:
        """The interaction as it is now, outside the visibility filter: after a transfer it may
        have left the actor's queues, and the actor may still see what they just did."""
        interaction = Interaction.objects.select_related("disposition", "agent__user", "queue").get(
            pk=interaction_id
        )
        return Response(InteractionSerializer(interaction).data)

    @extend_schema(request=TransferSerializer, responses=InteractionSerializer)
    @action(detail=True, methods=["post"])
    def transfer(self, request: Request, pk: str) -> Response:
        """Transfer to a queue or an agent (exactly one of queue, agent): the agent of an active
        interaction, or a supervisor/admin while it is queued, offered or active (reassign)."""
        instance = self.get_object()
        data = TransferSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        services.interaction_transfer(
            actor=request_user(request),
            interaction_id=instance.pk,
            to_queue_id=values["queue"],
            to_agent_id=values["agent"],
            note=values["note"],
        )
        return self._fresh(instance.pk)

    @extend_schema(request=NotesSerializer, responses=InteractionSerializer)
    @action(detail=True, methods=["post"])
    def notes(self, request: Request, pk: str) -> Response:
        """Replace the notes while active or in wrap-up (its agent, or a supervisor/admin)."""
        data = NotesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._act(
            request,
            pk,
            lambda *, actor, interaction_id: services.interaction_note_set(
                actor=actor, interaction_id=interaction_id, notes=data.validated_data["notes"]
            ),
        )

    @extend_schema(request=VoiceControlSerializer, responses=InteractionSerializer)
    @action(detail=True, methods=["post"])
    def voice(self, request: Request, pk: str) -> Response:
        """Hold, resume, mute or unmute an active voice or video call: its agent only."""
        data = VoiceControlSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._act(
            request,
            pk,
            lambda *, actor, interaction_id: services.interaction_voice_control(
                actor=actor, interaction_id=interaction_id, action=data.validated_data["action"]
            ),
        )

    @extend_schema(request=ConferenceSerializer, responses={201: ParticipantSerializer})
    @action(detail=True, methods=["post"])
    def conference(self, request: Request, pk: str) -> Response:
        """Add an agent or an outside number (exactly one) to an active call."""
        instance = self.get_object()
        data = ConferenceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        participant = services.interaction_conference_add(
            actor=request_user(request),
            interaction_id=instance.pk,
            to_agent_id=data.validated_data["agent"],
            to_number=data.validated_data["number"],
        )
        return Response(ParticipantSerializer(participant).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MonitorSerializer, responses={201: ParticipantSerializer})
    @action(detail=True, methods=["post"])
    def monitor(self, request: Request, pk: str) -> Response:
        """A supervisor/admin listens, whispers or barges into an active call (again with
        another mode: switches)."""
        instance = self.get_object()
        data = MonitorSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        participant = services.interaction_monitor(
            actor=request_user(request), interaction_id=instance.pk, mode=data.validated_data["mode"]
        )
        return Response(ParticipantSerializer(participant).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=ParticipantSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def participants(self, request: Request, pk: str) -> Response:
        """Who is on the call besides its customer and agent now (participants who left are
        in the event rows)."""
        interaction = self.get_object()
        rows = interaction.participants.filter(left_at__isnull=True).select_related("user").order_by("pk")
        return Response(ParticipantSerializer(rows, many=True).data)

    @extend_schema(responses=QueuePositionSerializer)
    @action(detail=True, methods=["get"])
    def position(self, request: Request, pk: str) -> Response:
        """Place in line (1 = next) and estimated wait in seconds, for the customer-facing side
        (chat widget, IVR); both null once the interaction is no longer waiting."""
        place = selectors.interaction_queue_position(interaction=self.get_object())
        return Response(
            QueuePositionSerializer(place or {"position": None, "estimated_wait_seconds": None}).data
        )

    @extend_schema(methods=["get"], responses=MessageSerializer(many=True))
    @extend_schema(methods=["post"], request=MessageCreateSerializer, responses={201: MessageSerializer})
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def messages(self, request: Request, pk: str) -> Response:
        interaction = self.get_object()
        if request.method == "GET":
            return Response(
                MessageSerializer(interaction.messages.order_by("created_at", "id"), many=True).data
            )
        data = MessageCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_add(
            actor=request_user(request), interaction_id=interaction.pk, **data.validated_data
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


class QueueSerializer(serializers.ModelSerializer):
    stats = serializers.SerializerMethodField()

    class Meta:
        model = Queue
        fields = (
            "id",
            "name",
            "channels",
            "strategy",
            "priority",
            "service_level_percent",
            "service_level_seconds",
            "offer_timeout_seconds",
            "auto_accept",
            "wrap_up_seconds",
            "disposition_required",
            "stats",
        )
        read_only_fields = fields

    def get_stats(self, queue: Queue) -> dict[str, Any] | None:
        stats = self.context.get("stats", {}).get(queue.pk)
        return None if stats is None else asdict(stats)


class QueueViewSet(RolesByActionMixin, viewsets.ReadOnlyModelViewSet):
    """Queues with live stats: waiting, longest wait, service level today, agents."""

    serializer_class = QueueSerializer
    lookup_value_regex = ID_LOOKUP_PATTERN
    action_roles = {"list": CRM_ROLES, "retrieve": CRM_ROLES}
    pagination_class = None

    def get_queryset(self) -> QuerySet[Queue]:
        return Queue.objects.filter(is_active=True).order_by("name")

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        context["stats"] = {s.queue_id: s for s in selectors.queue_stats()}
        return context


class AgentSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    not_ready_reason: serializers.SlugRelatedField[NotReadyReason] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )

    class Meta:
        model = AgentProfile
        fields = (
            "id",
            "username",
            "presence",
            "state",
            "state_since",
            "not_ready_reason",
            "total_load",
            "version",
        )
        read_only_fields = fields


class AgentStateSerializer(serializers.Serializer):
    presence = serializers.ChoiceField(choices=Presence.choices)
    reason = serializers.SlugRelatedField(
        slug_field="code",
        queryset=NotReadyReason.objects.filter(is_active=True),
        required=False,
        allow_null=True,
    )


class AgentViewSet(RolesByActionMixin, viewsets.ReadOnlyModelViewSet):
    """Agents: supervisors and admins see everyone, an agent sees themself. POST state sets the
    presence (available, not_ready with a reason, offline)."""

    serializer_class = AgentSerializer
    lookup_value_regex = ID_LOOKUP_PATTERN
    action_roles = {"list": AGENT_ROLES, "retrieve": AGENT_ROLES, "state": AGENT_ROLES}

    def get_queryset(self) -> QuerySet[AgentProfile]:
        queryset = AgentProfile.objects.select_related("user", "not_ready_reason").order_by("user__username")
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return queryset
        user = request_user(self.request)
        if not has_role(user, *SUPERVISION):
            queryset = queryset.filter(user=user)
        return queryset

    @extend_schema(request=AgentStateSerializer, responses=AgentSerializer)
    @action(detail=True, methods=["post"])
    def state(self, request: Request, pk: str) -> Response:
        agent = self.get_object()
        data = AgentStateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.agent_set_presence(
            actor=request_user(request),
            agent_id=agent.pk,
            presence=data.validated_data["presence"],
            reason=data.validated_data.get("reason"),
        )
        return Response(AgentSerializer(self.get_queryset().get(pk=agent.pk)).data)


class DispositionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Disposition
        fields = (
            "id",
            "code",
            "label",
            "category",
            "is_final",
            "is_success",
            "marks_dnc",
            "needs_callback_time",
        )
        read_only_fields = fields


class DispositionViewSet(RolesByActionMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = DispositionSerializer
    lookup_value_regex = ID_LOOKUP_PATTERN
    action_roles = {"list": CRM_ROLES, "retrieve": CRM_ROLES}
    pagination_class = None

    def get_queryset(self) -> QuerySet[Disposition]:
        return Disposition.objects.filter(is_active=True).order_by("label")


class ParticipantViewSet(RolesByActionMixin, viewsets.GenericViewSet):
    """A call's participants: POST leave takes one off the call (the participant themself, the
    call's agent, a supervisor or an admin: the service decides)."""

    serializer_class = ParticipantSerializer
    lookup_value_regex = ID_LOOKUP_PATTERN
    action_roles = {"leave": AGENT_ROLES}

    def get_queryset(self) -> QuerySet[InteractionParticipant]:
        queryset = InteractionParticipant.objects.select_related("user").order_by("pk")
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return queryset
        user = request_user(self.request)
        if not has_role(user, *SUPERVISION):
            queryset = queryset.filter(Q(user=user) | Q(interaction__agent__user=user))
        return queryset

    @extend_schema(request=None, responses=ParticipantSerializer)
    @action(detail=True, methods=["post"])
    def leave(self, request: Request, pk: str) -> Response:
        participant = self.get_object()  # 404 for a participant the user has nothing to do with
        left = services.interaction_participant_leave(
            actor=request_user(request), participant_id=participant.pk
        )
        return Response(ParticipantSerializer(left).data)


def register(router: BaseRouter) -> None:
    router.register("interactions", InteractionViewSet, basename="interaction")
    router.register("participants", ParticipantViewSet, basename="participant")
    router.register("queues", QueueViewSet, basename="queue")
    router.register("agents", AgentViewSet, basename="agent")
    router.register("dispositions", DispositionViewSet, basename="disposition")
