"""REST API of the contact center (/api/v1/): interactions (create = enqueue and route) with
their messages and actions, queues with live stats, agents (read, set state), dispositions.

Thin: serializers parse and render, services write and check who may act on what (an agent
only on their own interactions), apps.core.api maps domain errors to HTTP.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from apps.accounts.models import User
from apps.accounts.roles import Role, has_role
from apps.core.permissions import AGENT_ROLES, CRM_ROLES, RolesByActionMixin
from apps.interactions import selectors, services
from apps.interactions.models import (
    AgentProfile,
    Channel,
    Direction,
    Disposition,
    Interaction,
    Message,
    NotReadyReason,
    Presence,
    Queue,
)

SUPERVISION = (Role.SUPERVISOR, Role.ADMIN)


def _actor(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


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
        slug_field="code", read_only=True
    )
    agent_username = serializers.CharField(source="agent.user.username", read_only=True, default=None)

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
            "version",
        )
        read_only_fields = fields


class InteractionCreateSerializer(serializers.Serializer):
    queue = serializers.PrimaryKeyRelatedField(queryset=Queue.objects.filter(is_active=True))
    channel = serializers.ChoiceField(choices=Channel.choices)
    contact = serializers.CharField(required=False, allow_blank=True, max_length=254, default="")
    direction = serializers.ChoiceField(choices=Direction.choices, default=Direction.INBOUND)
    priority = serializers.IntegerField(required=False, default=0, min_value=-100, max_value=100)
    subject = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


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
    action_roles = {
        "list": AGENT_ROLES,
        "retrieve": AGENT_ROLES,
        "create": SUPERVISION,
        "accept": AGENT_ROLES,
        "reject": AGENT_ROLES,
        "end": AGENT_ROLES,
        "wrap_up": AGENT_ROLES,
        "abandon": SUPERVISION,
        "messages": AGENT_ROLES,
        "position": AGENT_ROLES,
    }

    def get_queryset(self) -> QuerySet[Interaction]:
        queryset = Interaction.objects.select_related("disposition", "agent__user").order_by(
            "-created_at", "-id"
        )
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return queryset
        user = _actor(self.request)
        if not has_role(user, *SUPERVISION):
            queryset = queryset.filter(Q(agent__user=user) | Q(queue__agents__user=user)).distinct()
        params = self.request.query_params
        for name in ("status", "channel", "queue"):
            if value := params.get(name):
                queryset = queryset.filter(**{name: value})
        return queryset

    @extend_schema(request=InteractionCreateSerializer, responses={201: InteractionSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = InteractionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        interaction = services.interaction_enqueue(actor=_actor(request), **data.validated_data)
        interaction.refresh_from_db()
        return Response(InteractionSerializer(interaction).data, status=status.HTTP_201_CREATED)

    def _act(self, request: Request, pk: str, run: Any) -> Response:
        instance = self.get_object()  # 404 for an interaction the user may not see
        run(actor=_actor(request), interaction_id=instance.pk)
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
            lambda *, actor, interaction_id: services.interaction_abandon(interaction_id=interaction_id),
        )

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
    @action(detail=True, methods=["get", "post"])
    def messages(self, request: Request, pk: str) -> Response:
        interaction = self.get_object()
        if request.method == "GET":
            return Response(
                MessageSerializer(interaction.messages.order_by("created_at", "id"), many=True).data
            )
        data = MessageCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_add(
            actor=_actor(request), interaction_id=interaction.pk, **data.validated_data
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
        slug_field="code", read_only=True
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
    action_roles = {"list": AGENT_ROLES, "retrieve": AGENT_ROLES, "state": AGENT_ROLES}

    def get_queryset(self) -> QuerySet[AgentProfile]:
        queryset = AgentProfile.objects.select_related("user", "not_ready_reason").order_by("user__username")
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return queryset
        user = _actor(self.request)
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
            actor=_actor(request),
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
    action_roles = {"list": CRM_ROLES, "retrieve": CRM_ROLES}
    pagination_class = None

    def get_queryset(self) -> QuerySet[Disposition]:
        return Disposition.objects.filter(is_active=True).order_by("label")


def register(router: BaseRouter) -> None:
    router.register("interactions", InteractionViewSet, basename="interaction")
    router.register("queues", QueueViewSet, basename="queue")
    router.register("agents", AgentViewSet, basename="agent")
    router.register("dispositions", DispositionViewSet, basename="disposition")
