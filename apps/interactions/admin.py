"""Admin for the contact center's configuration: queues with skills, agents with skills and
capacity, not-ready reasons, and the disposition catalog with its sets. Interactions are read
only here: their changes go through the services (desktop, wallboard, API)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.interactions.models import (
    AgentCapacity,
    AgentProfile,
    AgentSkill,
    Disposition,
    DispositionSet,
    Interaction,
    InteractionEvent,
    InteractionParticipant,
    Message,
    NotReadyReason,
    Queue,
    QueueSkill,
    Skill,
)


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ("name", "description")
    search_fields = ("name",)


class QueueSkillInline(admin.TabularInline):
    model = QueueSkill
    extra = 0
    autocomplete_fields = ("skill",)


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "channels",
        "strategy",
        "priority",
        "service_level_percent",
        "service_level_seconds",
        "offer_timeout_seconds",
        "auto_accept",
        "is_active",
    )
    list_filter = ("strategy", "auto_accept", "is_active")
    search_fields = ("name",)
    autocomplete_fields = ("overflow_queue", "after_hours_queue", "disposition_set")
    inlines = [QueueSkillInline]
    fieldsets = (
        (None, {"fields": ("name", "channels", "strategy", "priority", "is_active")}),
        ("Service level", {"fields": ("service_level_percent", "service_level_seconds")}),
        (
            "Hours",
            {
                "fields": ("time_zone", "business_hours", "holidays", "after_hours_queue"),
                "description": (
                    'Weekly hours in the queue\'s time zone, e.g. {"mon": [["09:00", "17:00"]], '
                    '"sat": [["10:00", "14:00"]]}; holidays as ISO dates, e.g. ["2025-12-25"]. '
                    "Empty hours: always open. While closed, emails still queue; calls and chats go "
                    "to the after-hours queue, or are missed."
                ),
            },
        ),
        ("Limits", {"fields": ("max_size", "max_wait_seconds", "overflow_queue")}),
        (
            "Offers and wrap-up",
            {
                "fields": (
                    "offer_timeout_seconds",
                    "auto_accept",
                    "wrap_up_seconds",
                    "disposition_required",
                    "disposition_set",
                )
            },
        ),
    )


class AgentSkillInline(admin.TabularInline):
    model = AgentSkill
    extra = 0
    autocomplete_fields = ("skill",)


class AgentCapacityInline(admin.TabularInline):
    model = AgentCapacity
    extra = 0
    fields = ("channel", "capacity", "load")
    readonly_fields = ("load",)


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "state", "presence", "state_since", "total_load")
    list_filter = ("state", "presence", "queues")
    list_select_related = ("user",)
    search_fields = ("user__username", "user__first_name", "user__last_name")
    autocomplete_fields = ("user",)
    filter_horizontal = ("queues",)
    inlines = [AgentSkillInline, AgentCapacityInline]
    fields = ("user", "queues", "client_identity", "phone", "sip_uri", "presence", "state", "state_since")
    # State changes go through agent_set_presence (desktop, wallboard, API) so history and
    # routing follow; the admin shows them.
    readonly_fields = ("presence", "state", "state_since")


@admin.register(NotReadyReason)
class NotReadyReasonAdmin(admin.ModelAdmin):
    list_display = ("label", "code", "is_active")
    list_filter = ("is_active",)
    search_fields = ("label", "code")


@admin.register(Disposition)
class DispositionAdmin(admin.ModelAdmin):
    list_display = (
        "label",
        "code",
        "category",
        "is_final",
        "is_success",
        "marks_dnc",
        "needs_callback_time",
        "is_active",
    )
    list_filter = ("category", "is_final", "is_success", "marks_dnc", "is_active")
    search_fields = ("label", "code")


@admin.register(DispositionSet)
class DispositionSetAdmin(admin.ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)
    filter_horizontal = ("dispositions",)


class InteractionEventInline(admin.TabularInline):
    model = InteractionEvent
    extra = 0
    can_delete = False
    fields = ("at", "kind", "from_status", "to_status", "agent", "queue", "actor", "data")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ("created_at", "direction", "sender", "body", "provider", "provider_id")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class InteractionParticipantInline(admin.TabularInline):
    model = InteractionParticipant
    extra = 0
    can_delete = False
    fields = ("role", "agent", "user", "number", "added_by", "joined_at", "left_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "channel", "direction", "queue", "agent", "customer", "created_at")
    list_filter = ("status", "channel", "direction", "queue")
    list_select_related = ("queue", "agent__user", "customer")
    search_fields = ("contact", "subject")
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [MessageInline, InteractionParticipantInline, InteractionEventInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Interaction._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
