"""The agent desktop and the supervisor wallboard: server-rendered pages whose parts are htmx
fragments. A page's small script (static/js/desk.js, wallboard.js) keeps a websocket open and,
for each event newer than what the page shows, reloads the fragment the event concerns; on every
(re)connect it reloads them all. The server stays the only source of state.

Every action is a POST that calls one service; a domain error comes back as its HTTP status with
a one-line message, which the page shows without losing what the agent typed."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.db.models import Count, Prefetch, Q, prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.core.exceptions import DomainError
from apps.core.permissions import AGENT_ROLES, role_required
from apps.customers.models import ContactPoint, Customer
from apps.customers.timeline import customer_timeline
from apps.interactions import selectors, services
from apps.interactions.desk_sections import sections_for, side_panels_for
from apps.interactions.models import (
    REAL_TIME_CHANNELS,
    TEXT_CHANNELS,
    AgentProfile,
    Disposition,
    Interaction,
    InteractionParticipant,
    InteractionStatus,
    NotReadyReason,
    Presence,
    Queue,
)
from apps.interactions.services.agents import interaction_offer_seen

SUPERVISION = (Role.SUPERVISOR, Role.ADMIN)
SCREEN_POP_TIMELINE = 8
CHANGED = "desk:changed"


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _domain_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A refused action answers with its status and a plain message for the page's alert."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except DomainError as error:
            return HttpResponse(str(error), status=error.http_status, content_type="text/plain")

    return wrapped


def _changed(interaction_id: int | None = None) -> HttpResponse:
    """Done: the page reloads the fragments the change concerns (its websocket would too)."""
    response = HttpResponse(status=204)
    response["HX-Trigger"] = json.dumps({CHANGED: {"id": interaction_id}})
    return response


def _bad_request(form: forms.Form) -> HttpResponse:
    messages = []
    for field, errors in form.errors.get_json_data().items():
        text = " ".join(str(error["message"]) for error in errors)
        messages.append(text if field == "__all__" else f"{field}: {text}")
    return HttpResponse("; ".join(messages), status=400, content_type="text/plain")


# -- forms -----------------------------------------------------------------------------------------


class PresenceForm(forms.Form):
    """One select on the page: "available", "offline" or "not_ready:<reason code>"."""

    choice = forms.CharField(max_length=64)

    def clean_choice(self) -> tuple[str, NotReadyReason | None]:
        presence, _, code = self.cleaned_data["choice"].partition(":")
        if presence not in Presence.values:
            raise forms.ValidationError("Choose a state.")
        if presence != Presence.NOT_READY:
            return presence, None
        reason = NotReadyReason.objects.filter(is_active=True, code=code).first()
        if reason is None:
            raise forms.ValidationError("Choose a not-ready reason.")
        return presence, reason


class ReplyForm(forms.Form):
    body = forms.CharField(max_length=10_000, strip=True)


class NotesForm(forms.Form):
    notes = forms.CharField(max_length=10_000, required=False, strip=True)


class WrapUpForm(forms.Form):
    disposition = forms.ModelChoiceField(queryset=Disposition.objects.none(), required=False)
    notes = forms.CharField(max_length=10_000, required=False, strip=True)
    callback_at = forms.DateTimeField(
        required=False, input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
    )
    callback_personal = forms.BooleanField(required=False)

    def __init__(self, *args: Any, interaction: Interaction, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.interaction = interaction
        field = self.fields["disposition"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = dispositions_for(interaction)

    def clean_callback_at(self) -> dt.datetime | None:
        """The time the agent typed is the customer's local time (callback_zone), as the page says."""
        value = self.cleaned_data.get("callback_at")
        if value is None:
            return None
        zone = callback_zone(self.interaction)
        moment = timezone.make_aware(timezone.make_naive(value), zone)
        if moment <= timezone.now():
            raise forms.ValidationError("Choose a callback time in the future.")
        return moment


def callback_zone(interaction: Interaction) -> dt.tzinfo:
    """The customer's time zone when it is known, else the page's current one."""
    name = interaction.customer.time_zone if interaction.customer is not None else ""
    try:
        return ZoneInfo(name) if name else timezone.get_current_timezone()
    except (ZoneInfoNotFoundError, ValueError):  # a zone the tz database no longer knows
        return timezone.get_current_timezone()


class TransferForm(forms.Form):
    """One target: "queue:<id>" or "agent:<id>" (one select on the page)."""

    target = forms.RegexField(regex=r"^(queue|agent):\d+$", error_messages={"invalid": "Choose a target."})
    note = forms.CharField(max_length=500, required=False, strip=True)

    def target_kwargs(self) -> dict[str, int]:
        kind, _, pk = self.cleaned_data["target"].partition(":")
        return {"to_queue_id": int(pk)} if kind == "queue" else {"to_agent_id": int(pk)}


class ConferenceForm(forms.Form):
    to_agent = forms.IntegerField(required=False)
    to_number = forms.RegexField(
        regex=r"^\+[1-9]\d{6,14}$",
        required=False,
        error_messages={"invalid": "Enter the number in international format, e.g. +14155550100."},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("to_agent")) == bool(data.get("to_number")):
            raise forms.ValidationError("Choose an agent or enter a number.")
        return data


def dispositions_for(interaction: Interaction) -> Any:
    """The queue's disposition set, or the whole active catalog where the queue has none."""
    queryset = Disposition.objects.filter(is_active=True).order_by("label")
    queue = interaction.queue
    if queue is not None and queue.disposition_set_id is not None:
        queryset = queryset.filter(sets=queue.disposition_set_id)
    return queryset


# -- agent desktop ---------------------------------------------------------------------------------


def _work_context(request: HttpRequest) -> dict[str, Any]:
    # The desk reloads this on every event: one read, and the profile is made only the first time.
    user = _user(request)
    agent = AgentProfile.objects.select_related("not_ready_reason").filter(user=user).first()
    if agent is None:
        agent = services.agent_profile_for(user=user)
    return {
        "agent": agent,
        "reasons": NotReadyReason.objects.filter(is_active=True).order_by("label"),
        "work": selectors.agent_work(agent=agent),
        "now": timezone.now(),
    }


@role_required(*AGENT_ROLES)
@require_GET
def desk(request: HttpRequest) -> HttpResponse:
    context = _work_context(request)
    services.agent_seen(user_id=_user(request).pk)
    opened = request.GET.get("open", "")
    context.update(
        {
            "opened": int(opened) if opened.isdigit() else None,
            "history": selectors.agent_queue_history(agent=context["agent"]),
            "my_customers": Customer.objects.select_related("organization").filter(
                owner_id=_user(request).pk
            )[:10],
            "side_panels": side_panels_for(_user(request)),
        }
    )
    return render(request, "interactions/desk.html", context)


@role_required(*AGENT_ROLES)
@require_GET
def desk_work(request: HttpRequest) -> HttpResponse:
    return render(request, "interactions/_desk_work.html", _work_context(request))


@role_required(*AGENT_ROLES)
@require_GET
def desk_history(request: HttpRequest) -> HttpResponse:
    agent = services.agent_profile_for(user=_user(request))
    return render(
        request, "interactions/_desk_history.html", {"history": selectors.agent_queue_history(agent=agent)}
    )


@role_required(*AGENT_ROLES)
@require_POST
@_domain_errors
def desk_presence(request: HttpRequest) -> HttpResponse:
    return _set_presence(request, services.agent_profile_for(user=_user(request)).pk)


def _set_presence(request: HttpRequest, agent_id: int) -> HttpResponse:
    """The desk's state selector and the wallboard's: the service decides who may change whom."""
    form = PresenceForm(request.POST)
    if not form.is_valid():
        return _bad_request(form)
    presence, reason = form.cleaned_data["choice"]
    services.agent_set_presence(actor=_user(request), agent_id=agent_id, presence=presence, reason=reason)
    return _changed()


def _visible(request: HttpRequest, pk: int) -> Interaction:
    interaction = (
        selectors.interactions_visible_to(user=_user(request))
        .select_related("customer__organization", "queue", "agent__user", "disposition")
        .filter(pk=pk)
        .first()
    )
    if interaction is None:
        raise Http404("No such interaction.")
    return interaction


def _panel_context(request: HttpRequest, interaction: Interaction) -> dict[str, Any]:
    user = _user(request)
    customer = interaction.customer
    mine = interaction.agent is not None and interaction.agent.user_id == user.pk
    context: dict[str, Any] = {
        "interaction": interaction,
        "mine": mine,
        "now": timezone.now(),
        "is_text": interaction.channel in TEXT_CHANNELS,
        "is_voice": interaction.channel in REAL_TIME_CHANNELS,
        "messages": interaction.messages.order_by("created_at", "id"),
        "customer": customer,
        "contact_points": [],
        "timeline": [],
    }
    if customer is not None:
        context["contact_points"] = list(
            ContactPoint.objects.filter(customer=customer).order_by("kind", "-is_primary", "value")
        )
        context["timeline"] = customer_timeline(customer, viewer=user, limit=SCREEN_POP_TIMELINE)
    context["sections"] = sections_for(interaction, user)
    context["awaits_dial"] = services.awaits_dial(interaction)
    if mine and interaction.status in (InteractionStatus.ACTIVE, InteractionStatus.WRAP_UP):
        context["dispositions"] = dispositions_for(interaction)
        context["callback_zone"] = str(callback_zone(interaction))
        context["transfer_queues"] = (
            Queue.objects.filter(is_active=True).exclude(pk=interaction.queue_id or 0).order_by("name")
        )
        context["transfer_agents"] = (
            AgentProfile.objects.exclude(pk=interaction.agent_id or 0)
            .exclude(presence=Presence.OFFLINE)
            .select_related("user")
            .order_by("user__username")
        )
        context["participants"] = list(
            interaction.participants.filter(left_at=None)
            .select_related("user", "agent__user")
            .order_by("joined_at")
        )
    return context


@role_required(*AGENT_ROLES)
@require_GET
def desk_interaction(request: HttpRequest, pk: int) -> HttpResponse:
    interaction = _visible(request, pk)
    return render(request, "interactions/_desk_panel.html", _panel_context(request, interaction))


@role_required(*AGENT_ROLES)
@require_GET
def desk_conversation(request: HttpRequest, pk: int) -> HttpResponse:
    interaction = _visible(request, pk)
    return render(
        request,
        "interactions/_desk_conversation.html",
        {"interaction": interaction, "messages": interaction.messages.order_by("created_at", "id")},
    )


_SIMPLE_ACTIONS: dict[str, Callable[..., Interaction]] = {
    "accept": services.interaction_accept,
    "reject": services.interaction_reject,
    "end": services.interaction_end,
}


@role_required(*AGENT_ROLES)
@require_POST
@_domain_errors
def desk_act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    if action == "seen":
        return _offer_seen(request, _visible(request, pk))
    if action == "dial":
        interaction = _visible(request, pk)
        services.interaction_preview_dial(actor=_user(request), interaction_id=interaction.pk)
        return _changed(interaction.pk)
    if action == "skip":
        interaction = _visible(request, pk)
        form = SkipForm(request.POST)
        if not form.is_valid():
            return _bad_request(form)
        services.interaction_preview_skip(
            actor=_user(request), interaction_id=interaction.pk, reason=form.cleaned_data["reason"]
        )
        return _changed(interaction.pk)
    run = _SIMPLE_ACTIONS.get(action)
    if run is None:
        raise Http404("No such action.")
    interaction = _visible(request, pk)
    run(actor=_user(request), interaction_id=interaction.pk)
    return _changed(interaction.pk)


class SkipForm(forms.Form):
    reason = forms.CharField(max_length=200, strip=True)


class OfferSeenForm(forms.Form):
    version = forms.IntegerField(min_value=0)


def _offer_seen(request: HttpRequest, interaction: Interaction) -> HttpResponse:
    """The desk showed this offer (POST version=<the version it shows>): from now on its timeout
    is the agent's no-answer. Nothing to reload: 204, whether it was recorded or stale."""
    form = OfferSeenForm(request.POST)
    if not form.is_valid():
        return _bad_request(form)
    interaction_offer_seen(
        actor=_user(request), interaction_id=interaction.pk, version=form.cleaned_data["version"]
    )
    return HttpResponse(status=204)


@role_required(*AGENT_ROLES)
@require_POST
@_domain_errors
def desk_reply(request: HttpRequest, pk: int) -> HttpResponse:
    interaction = _visible(request, pk)
    form = ReplyForm(request.POST)
    if not form.is_valid():
        return _bad_request(form)
    user = _user(request)
    services.message_add(
        actor=user, interaction_id=interaction.pk, body=form.cleaned_data["body"], sender=user.get_username()
    )
    return render(
        request,
        "interactions/_desk_conversation.html",
        {"interaction": interaction, "messages": interaction.messages.order_by("created_at", "id")},
    )


@role_required(*AGENT_ROLES)
@require_POST
@_domain_errors
def desk_notes(request: HttpRequest, pk: int) -> HttpResponse:
    interaction = _visible(request, pk)
    form = NotesForm(request.POST)
    if not form.is_valid():
        return _bad_request(form)
    services.interaction_note_set(
        actor=_user(request), interaction_id=interaction.pk, notes=form.cleaned_data["notes"]
    )
    return HttpResponse("Notes saved.", content_type="text/plain")


@role_required(*AGENT_ROLES)
@require_POST
@_domain_errors
def desk_wrap_up(request: HttpRequest, pk: int) -> HttpResponse:
    interaction = _visible(request, pk)
    form = WrapUpForm(request.POST, interaction=interaction)
    if not form.is_valid():
        return _bad_request(form)
    services.interaction_wrap_up(
        actor=_user(request),
        interaction_id=interaction.pk,
        disposition=form.cleaned_data["disposition"],
        notes=form.cleaned_data["notes"],
        callback_at=form.cleaned_data["callback_at"],
        callback_personal=form.cleaned_data["callback_personal"],
    )
    return _changed(interaction.pk)


@role_required(*AGENT_ROLES)
@require_POST
@_domain_errors
def desk_voice(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    if action not in ("hold", "resume", "mute", "unmute"):
        raise Http404("No such voice control.")
    interaction = _visible(request, pk)
    services.interaction_voice_control(actor=_user(request), interaction_id=interaction.pk, action=action)
    return _changed(interaction.pk)


def _transfer(request: HttpRequest, pk: int) -> HttpResponse:
    """An agent's own transfer and a supervisor's reassign: one form, one service (which
    decides who may move what, in which state)."""
    interaction = _visible(request, pk)
    form = TransferForm(request.POST)
    if not form.is_valid():
        return _bad_request(form)
    services.interaction_transfer(
        actor=_user(request),
        interaction_id=interaction.pk,
        note=form.cleaned_data["note"],
        **form.target_kwargs(),
    )
    return _changed(interaction.pk)


@role_required(*AGENT_ROLES)
@require_POST
@_domain_errors
def desk_transfer(request: HttpRequest, pk: int) -> HttpResponse:
    return _transfer(request, pk)


@role_required(*AGENT_ROLES)
@require_POST
@_domain_errors
def desk_conference(request: HttpRequest, pk: int) -> HttpResponse:
    interaction = _visible(request, pk)
    form = ConferenceForm(request.POST)
    if not form.is_valid():
        return _bad_request(form)
    services.interaction_conference_add(
        actor=_user(request),
        interaction_id=interaction.pk,
        to_agent_id=form.cleaned_data["to_agent"] or None,
        to_number=form.cleaned_data["to_number"] or "",
    )
    return _changed(interaction.pk)


@role_required(*AGENT_ROLES)
@require_POST
@_domain_errors
def participant_leave(request: HttpRequest, participant_id: int) -> HttpResponse:
    """Drop someone from a call: the call's agent removes a conferenced party; a supervisor
    stops listening, whispering or barging (the service decides who may)."""
    participant = InteractionParticipant.objects.filter(pk=participant_id).only("interaction_id").first()
    if participant is None:
        raise Http404("No such participant.")
    _visible(request, participant.interaction_id)
    services.interaction_participant_leave(actor=_user(request), participant_id=participant_id)
    return _changed(participant.interaction_id)


# -- supervisor wallboard --------------------------------------------------------------------------


def _board_context() -> dict[str, Any]:
    agents = list(selectors.agent_board())
    # Who listens, whispers, barges or is conferenced on each call: one query for the board.
    prefetch_related_objects(
        [interaction for agent in agents for interaction in agent.held],  # type: ignore[attr-defined]
        Prefetch(
            "participants",
            queryset=InteractionParticipant.objects.filter(left_at=None).select_related(
                "user", "agent__user"
            ),
            to_attr="live_participants",
        ),
    )
    return {
        "queues": selectors.queue_stats(),
        "agents": agents,
        "waiting": selectors.waiting_interactions(),
        "reasons": list(NotReadyReason.objects.filter(is_active=True).order_by("label")),
        "all_queues": list(Queue.objects.filter(is_active=True).order_by("name")),
        "now": timezone.now(),
    }


@role_required(*SUPERVISION)
@require_GET
def wallboard(request: HttpRequest) -> HttpResponse:
    since = timezone.now() - dt.timedelta(days=1)
    crm = Customer.objects.aggregate(
        new_today=Count("id", filter=Q(created_at__gte=since)),
        updated_today=Count("id", filter=Q(updated_at__gte=since)),
    )
    context = _board_context()
    context.update({"crm": crm, "dnc_count": ContactPoint.objects.filter(do_not_call=True).count()})
    return render(request, "interactions/wallboard.html", context)


@role_required(*SUPERVISION)
@require_GET
def wallboard_board(request: HttpRequest) -> HttpResponse:
    return render(request, "interactions/_wallboard_board.html", _board_context())


@role_required(*SUPERVISION)
@require_POST
@_domain_errors
def wallboard_agent_presence(request: HttpRequest, agent_id: int) -> HttpResponse:
    if not AgentProfile.objects.filter(pk=agent_id).exists():
        raise Http404("No such agent.")
    return _set_presence(request, agent_id)


@role_required(*SUPERVISION)
@require_POST
@_domain_errors
def wallboard_transfer(request: HttpRequest, pk: int) -> HttpResponse:
    return _transfer(request, pk)


@role_required(*SUPERVISION)
@require_POST
@_domain_errors
def wallboard_monitor(request: HttpRequest, pk: int, mode: str) -> HttpResponse:
    if mode not in ("listen", "whisper", "barge"):
        raise Http404("No such monitoring mode.")
    interaction = _visible(request, pk)
    services.interaction_monitor(actor=_user(request), interaction_id=interaction.pk, mode=mode)
    return _changed(interaction.pk)
