"""A campaign's settings and its status: draft, active, paused, completed, every transition
audited (CampaignStatusChange) and announced after commit.

Marketers and admins manage campaigns; supervisors read them; agents only work them. The
system (the dialer finding a campaign past its end) may complete one.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.roles import Role, has_role
from apps.campaigns import events
from apps.campaigns.exceptions import InvalidCampaign, InvalidStatusChange
from apps.campaigns.models import (
    ALL_DAYS,
    EARLIEST_LOCAL,
    LATEST_LOCAL,
    Campaign,
    CampaignChannel,
    CampaignStatus,
    CampaignStatusChange,
    DialMode,
)
from apps.core.actors import Actor, SystemActor, require_actor
from apps.core.exceptions import NotAllowed

MANAGER_ROLES = (Role.MARKETER, Role.ADMIN)

# Which status may follow which. A completed campaign is history: it is copied, not restarted.
TRANSITIONS: dict[str, frozenset[str]] = {
    CampaignStatus.DRAFT: frozenset({CampaignStatus.ACTIVE, CampaignStatus.COMPLETED}),
    CampaignStatus.ACTIVE: frozenset({CampaignStatus.PAUSED, CampaignStatus.COMPLETED}),
    CampaignStatus.PAUSED: frozenset({CampaignStatus.ACTIVE, CampaignStatus.COMPLETED}),
    CampaignStatus.COMPLETED: frozenset(),
}

# The most calls an agentless broadcast places at once.
MAX_BROADCAST_LINES = 200

# The fields campaign_create and campaign_update accept.
EDITABLE_FIELDS = frozenset(
    {
        "name",
        "description",
        "channel",
        "dial_mode",
        "queue",
        "disposition_set",
        "caller_id",
        "lines_per_agent",
        "broadcast_lines",
        "max_abandon_percent",
        "window_start",
        "window_end",
        "window_days",
        "holiday_country",
        "holiday_subdivision",
        "time_zone",
        "max_attempts_per_lead",
        "max_attempts_per_number",
        "starts_at",
        "ends_at",
        "message_subject",
        "message_body",
        "recording_url",
        "broadcast_action",
        "sends_per_minute",
    }
)


def campaign_may_manage(actor: Actor) -> bool:
    """Marketers and admins create, edit, start and pause campaigns; the system may too."""
    require_actor(actor)
    if isinstance(actor, SystemActor):
        return True
    return isinstance(actor, User) and actor.is_authenticated and has_role(actor, *MANAGER_ROLES)


def _check_manager(actor: Actor) -> None:
    if not campaign_may_manage(actor):
        raise NotAllowed("Only marketers and admins manage campaigns.")


def _as_time(value: object) -> dt.time:
    if isinstance(value, dt.time):
        return value
    return dt.time.fromisoformat(str(value))


def campaign_validate(campaign: Campaign) -> None:
    """The settings hold together, or InvalidCampaign names the field and the reason."""
    if not campaign.name.strip():
        raise InvalidCampaign("name: a campaign needs a name.")
    if campaign.channel not in CampaignChannel.values:
        raise InvalidCampaign(
            f"channel: {campaign.channel!r} is not one of {', '.join(CampaignChannel.values)}."
        )
    if campaign.channel == CampaignChannel.VOICE and campaign.dial_mode not in DialMode.values:
        raise InvalidCampaign(
            f"dial_mode: {campaign.dial_mode!r} is not one of {', '.join(DialMode.values)}."
        )
    try:
        start, end = _as_time(campaign.window_start), _as_time(campaign.window_end)
    except ValueError as exc:
        raise InvalidCampaign("window_start/window_end: times are HH:MM.") from exc
    if start >= end:
        raise InvalidCampaign("window_end: the calling window must end after it starts.")
    days = campaign.window_days
    if not isinstance(days, list) or not days or any(day not in ALL_DAYS for day in days):
        raise InvalidCampaign(f"window_days: a list of days out of {', '.join(ALL_DAYS)}.")
    try:
        zoneinfo.ZoneInfo(campaign.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidCampaign(f"time_zone: {campaign.time_zone!r} is not an IANA time zone.") from exc
    if campaign.starts_at and campaign.ends_at and campaign.ends_at <= campaign.starts_at:
        raise InvalidCampaign("ends_at: the campaign must end after it starts.")
    if campaign.dial_mode == DialMode.BROADCAST and not 1 <= campaign.broadcast_lines <= MAX_BROADCAST_LINES:
        raise InvalidCampaign(f"broadcast_lines: between 1 and {MAX_BROADCAST_LINES} calls at once.")
    if campaign.max_attempts_per_lead < 1 or campaign.max_attempts_per_number < 1:
        raise InvalidCampaign("max_attempts_per_lead/max_attempts_per_number: at least 1.")
    if campaign.channel in (CampaignChannel.SMS, CampaignChannel.EMAIL) and campaign.sends_per_minute < 1:
        raise InvalidCampaign("sends_per_minute: at least 1.")
    # The window the campaign asks for is never wider than the law's in the lead's local time;
    # a wider one is not an error (the gate narrows it), but say it where it is set.
    campaign.window_start = max(start, dt.time.fromisoformat(EARLIEST_LOCAL))
    campaign.window_end = min(end, dt.time.fromisoformat(LATEST_LOCAL))


def _ready_to_start(campaign: Campaign) -> None:
    if campaign.channel == CampaignChannel.VOICE:
        if campaign.queue_id is None:
            raise InvalidStatusChange(
                "A voice campaign needs the queue whose agents work it before it starts."
            )
        if campaign.dial_mode == DialMode.BROADCAST and not (campaign.message_body or campaign.recording_url):
            raise InvalidStatusChange("A broadcast needs its message (text or recording) before it starts.")
    elif not campaign.message_body.strip():
        raise InvalidStatusChange("An SMS or email campaign needs its message before it starts.")
    if campaign.channel == CampaignChannel.EMAIL and not campaign.message_subject.strip():
        raise InvalidStatusChange("An email campaign needs a subject before it starts.")


def campaign_create(*, actor: Actor, **fields: Any) -> Campaign:
    """A new draft campaign from EDITABLE_FIELDS (unknown ones: InvalidCampaign)."""
    _check_manager(actor)
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise InvalidCampaign(f"{', '.join(sorted(unknown))}: not a campaign setting.")
    campaign = Campaign(**fields, status=CampaignStatus.DRAFT)
    if isinstance(actor, User):
        campaign.created_by = actor
    campaign_validate(campaign)
    if Campaign.objects.filter(name=campaign.name).exists():
        raise InvalidCampaign(f"name: a campaign called {campaign.name!r} exists already.")
    try:
        with transaction.atomic():
            campaign.version = 1
            campaign.save()
            _status_change(campaign, "", CampaignStatus.DRAFT, actor, "created")
            events.campaign_changed(campaign)
    except IntegrityError as exc:  # two marketers naming two campaigns alike at the same moment
        raise InvalidCampaign(f"name: a campaign called {campaign.name!r} exists already.") from exc
    return campaign


def campaign_update(*, actor: Actor, campaign_id: int, **fields: Any) -> Campaign:
    """Change settings. A completed campaign is history and refuses changes. Locks: the campaign."""
    _check_manager(actor)
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise InvalidCampaign(f"{', '.join(sorted(unknown))}: not a campaign setting.")
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.status == CampaignStatus.COMPLETED:
            raise InvalidStatusChange(f"Campaign {campaign.name} is completed: its settings are history.")
        for name, value in fields.items():
            setattr(campaign, name, value)
        campaign_validate(campaign)
        if "name" in fields and Campaign.objects.filter(name=campaign.name).exclude(pk=campaign.pk).exists():
            raise InvalidCampaign(f"name: a campaign called {campaign.name!r} exists already.")
        campaign.version = F("version") + 1
        try:
            with transaction.atomic():
                campaign.save()
        except IntegrityError as exc:
            raise InvalidCampaign(f"name: a campaign called {campaign.name!r} exists already.") from exc
        campaign.refresh_from_db(fields=["version"])
        events.campaign_changed(campaign)
    return campaign


def campaign_set_status(*, actor: Actor, campaign_id: int, to_status: str, reason: str = "") -> Campaign:
    """Start (draft or paused -> active), pause (active -> paused, the dialer places no new call
    from the next tick on: the tick reads the status under the campaign's lock, and a preview
    campaign's previews still waiting for an agent are withdrawn after commit), resume, or
    complete. Audited. Locks: the campaign."""
    _check_manager(actor)
    if to_status not in CampaignStatus.values:
        raise InvalidStatusChange(
            f"{to_status!r} is not a campaign status ({', '.join(CampaignStatus.values)})."
        )
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        before = campaign.status
        if to_status == before:
            return campaign
        if to_status not in TRANSITIONS[before]:
            raise InvalidStatusChange(
                f"Campaign {campaign.name} is {campaign.get_status_display().lower()}: it cannot become "
                f"{CampaignStatus(to_status).label.lower()}."
            )
        if to_status == CampaignStatus.ACTIVE:
            _ready_to_start(campaign)
            if campaign.ends_at and campaign.ends_at <= timezone.now():
                raise InvalidStatusChange(
                    f"Campaign {campaign.name} ended on {campaign.ends_at:%Y-%m-%d %H:%M}."
                )
        campaign.status = to_status
        campaign.version = F("version") + 1
        campaign.save(update_fields=["status", "version", "updated_at"])
        campaign.refresh_from_db(fields=["version"])
        _status_change(campaign, before, to_status, actor, reason)
        events.campaign_changed(campaign)
        if (
            to_status in (CampaignStatus.PAUSED, CampaignStatus.COMPLETED)
            and campaign.dial_mode == DialMode.PREVIEW
        ):
            transaction.on_commit(
                lambda: _withdraw_previews(campaign.pk, f"campaign {CampaignStatus(to_status).label.lower()}")
            )
    return campaign


def _withdraw_previews(campaign_id: int, reason: str) -> None:
    from apps.campaigns.dialer.preview import previews_withdraw

    previews_withdraw(campaign_id=campaign_id, reason=reason)


def _status_change(campaign: Campaign, before: str, after: str, actor: Actor, reason: str) -> None:
    CampaignStatusChange.objects.create(
        campaign=campaign,
        from_status=before,
        to_status=after,
        actor=actor if isinstance(actor, User) else None,
        actor_name=actor.name if isinstance(actor, SystemActor) else "",
        reason=reason[:200],
        at=timezone.now(),
    )
