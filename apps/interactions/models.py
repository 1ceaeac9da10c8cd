"""The contact center's data: interactions on every channel and their event log, messages,
queues with their skills and rules, agents with skills, capacity and state history, not-ready
reasons and the disposition catalog. Routing (apps.interactions.acd) is the only writer of
offers and agent loads; see its docstring for the locking."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from apps.customers.models import Customer

logger = logging.getLogger(__name__)


class Channel(models.TextChoices):
    VOICE = "voice", "Voice"
    VIDEO = "video", "Video"
    CHAT = "chat", "Live chat"
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"
    SOCIAL = "social", "Social"
    EMAIL = "email", "Email"


# A voice or video call takes the agent's full attention: while one is offered or held, no new
# interaction of any channel is offered (chats and emails in progress stay).
REAL_TIME_CHANNELS = frozenset({Channel.VOICE.value, Channel.VIDEO.value})
TEXT_CHANNELS = frozenset(
    c.value for c in (Channel.CHAT, Channel.SMS, Channel.WHATSAPP, Channel.SOCIAL, Channel.EMAIL)
)


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class InteractionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    OFFERED = "offered", "Offered"
    ACTIVE = "active", "Active"
    WRAP_UP = "wrap_up", "Wrap-up"
    CLOSED = "closed", "Closed"
    ABANDONED = "abandoned", "Abandoned"
    TRANSFERRED = "transferred", "Transferred"
    MISSED = "missed", "Missed"
    # An outbound call being placed (the provider dials) and ringing at the customer's end.
    DIALING = "dialing", "Dialing"
    RINGING = "ringing", "Ringing"


# Statuses in which the interaction holds one unit of its agent's capacity for its channel (an
# outbound call being placed holds its reserved agent's voice slot; one without an agent holds none).
HOLDING_STATUSES = (
    InteractionStatus.OFFERED,
    InteractionStatus.ACTIVE,
    InteractionStatus.WRAP_UP,
    InteractionStatus.DIALING,
    InteractionStatus.RINGING,
)
# An outbound call not answered yet.
PLACING_STATUSES = (InteractionStatus.DIALING, InteractionStatus.RINGING)


class CallOutcome(models.TextChoices):
    """What an outbound call did, as the voice gateway reported it."""

    ANSWERED = "answered", "Answered"
    BUSY = "busy", "Busy"
    NO_ANSWER = "no_answer", "No answer"
    MACHINE = "machine", "Answering machine"
    FAX = "fax", "Fax machine"
    FAILED = "failed", "Failed"
    # Answered by a person who heard an agentless message (a broadcast) and did not ask for an
    # agent: the call ends without reaching the queue.
    MESSAGE = "message", "Message played"


FINISHED_STATUSES = (
    InteractionStatus.CLOSED,
    InteractionStatus.ABANDONED,
    InteractionStatus.TRANSFERRED,
    InteractionStatus.MISSED,
)


class RoutingStrategy(models.TextChoices):
    LONGEST_IDLE = "longest_idle", "Longest idle agent"
    ROUND_ROBIN = "round_robin", "Round robin"
    MOST_SKILLED = "most_skilled", "Most skilled agent"
    LEAST_OCCUPIED = "least_occupied", "Least occupied agent"


class Skill(models.Model):
    name = models.CharField(max_length=64, unique=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DispositionCategory(models.TextChoices):
    CONTACT_MADE = "contact_made", "Contact made"
    SALE = "sale", "Sale"
    RESOLVED = "resolved", "Resolved"
    NO_ANSWER = "no_answer", "No answer"
    BUSY = "busy", "Busy"
    VOICEMAIL = "voicemail", "Voicemail"
    WRONG_NUMBER = "wrong_number", "Wrong number"
    DO_NOT_CALL = "do_not_call", "Do not call"
    CALLBACK = "callback", "Callback"
    OTHER = "other", "Other"


class Disposition(models.Model):
    """An outcome an agent (or the dialer) records when an interaction ends."""

    code = models.SlugField(max_length=32, unique=True)
    label = models.CharField(max_length=100)
    category = models.CharField(max_length=16, choices=DispositionCategory.choices)
    is_final = models.BooleanField(default=True, help_text="No retry: the contact is done")
    is_success = models.BooleanField(default=False, help_text="Counts as a success in reports")
    marks_dnc = models.BooleanField(default=False, help_text="Sets do-not-call on the contact point")
    needs_callback_time = models.BooleanField(default=False, help_text="The agent must give a callback time")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["label"]

    def __str__(self) -> str:
        return f"{self.label} ({self.code})"


class DispositionSet(models.Model):
    name = models.CharField(max_length=100, unique=True)
    dispositions = models.ManyToManyField(Disposition, related_name="sets")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Channels that still queue while their queue is closed: nobody expects an email answered at
# once, so it waits for the morning instead of being turned away. Calls and chats are missed.
QUEUED_AFTER_HOURS = frozenset({Channel.EMAIL.value})


def _clock(text: str) -> dt.time | None:
    """ "HH:MM" to a time; "24:00" (end of day) to None."""
    if text == "24:00":
        return None
    return dt.time.fromisoformat(text)


class Queue(models.Model):
    """Where interactions wait for an agent. Business hours are {"mon": [["09:00", "17:00"]],
    ...} in the queue's time zone; holidays are ISO dates; an empty hours map means always open.

    Hours are wall-clock times in the queue's time zone, so they follow daylight saving time
    (09:00 is 09:00 in summer and winter). A range ends before its end minute ("17:00" is
    closed at 17:00); "24:00" ends at midnight; a range whose end is not after its start runs
    past midnight and belongs to the day it starts on (["22:00", "06:00"] on "fri" is open
    Friday night until Saturday 06:00). A holiday closes its whole local date, including a
    range that starts on it. A weekday absent from a non-empty map is closed."""

    name = models.CharField(max_length=100, unique=True)
    channels = models.JSONField(default=list, help_text='Channels served, e.g. ["chat", "email"]')
    strategy = models.CharField(
        max_length=16, choices=RoutingStrategy.choices, default=RoutingStrategy.LONGEST_IDLE
    )
    priority = models.PositiveSmallIntegerField(
        default=0, help_text="Added to each interaction's priority: higher queues are served first"
    )
    service_level_percent = models.PositiveSmallIntegerField(default=80)
    service_level_seconds = models.PositiveIntegerField(default=20)
    time_zone = models.CharField(max_length=64, default="UTC")
    business_hours = models.JSONField(default=dict, blank=True)
    holidays = models.JSONField(default=list, blank=True)
    max_wait_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="After this wait an interaction overflows (or stays when no target)"
    )
    overflow_queue = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="overflow_sources"
    )
    after_hours_queue = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="after_hours_sources",
        help_text="Arrivals while this queue is closed go there (else calls and chats are missed)",
    )
    max_size = models.PositiveIntegerField(null=True, blank=True, help_text="Waiting interactions at most")
    offer_timeout_seconds = models.PositiveIntegerField(default=20)
    auto_accept = models.BooleanField(default=False, help_text="Offers are accepted at once (chat, email)")
    disposition_required = models.BooleanField(default=True)
    wrap_up_seconds = models.PositiveIntegerField(default=30)
    disposition_set = models.ForeignKey(
        DispositionSet, null=True, blank=True, on_delete=models.SET_NULL, related_name="queues"
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors["time_zone"] = f"{self.time_zone!r} is not an IANA time zone (e.g. Europe/Paris)."
        try:
            self._ranges()
        except (TypeError, ValueError, AttributeError):
            errors["business_hours"] = (
                'Use {"mon": [["09:00", "17:00"]], ...}: weekdays mon..sun, HH:MM ranges (24:00 allowed).'
            )
        try:
            self._holiday_dates()
        except (TypeError, ValueError):
            errors["holidays"] = 'Use a list of ISO dates, e.g. ["2025-12-25"].'
        if self.after_hours_queue_id is not None and self.after_hours_queue_id == self.pk:
            errors["after_hours_queue"] = "A queue cannot send its after-hours arrivals to itself."
        if errors:
            raise ValidationError(errors)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        try:
            return zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            # clean() refuses a bad zone; a row written around it must not stop the calls.
            logger.warning("queue %s has an unknown time zone %r: using UTC", self.pk, self.time_zone)
            return zoneinfo.ZoneInfo("UTC")

    def _ranges(self) -> dict[int, list[tuple[dt.time, dt.time | None]]]:
        """Weekday number (Monday 0) to its (start, end) wall-clock ranges; end None = midnight."""
        ranges: dict[int, list[tuple[dt.time, dt.time | None]]] = {}
        for day, spans in (self.business_hours or {}).items():
            number = WEEKDAYS.index(str(day).lower()[:3])
            for start, end in spans:
                opens = _clock(start)
                if opens is None:
                    raise ValueError("a range cannot start at 24:00")
                ranges.setdefault(number, []).append((opens, _clock(end)))
        return ranges

    def _holiday_dates(self) -> set[dt.date]:
        return {dt.date.fromisoformat(str(day)) for day in (self.holidays or [])}

    def is_open(self, at: dt.datetime) -> bool:
        """Whether the queue takes arrivals at `at` (an aware datetime): its weekly hours in its
        time zone, minus holidays. An empty hours map is always open (holidays included)."""
        if at.tzinfo is None:
            raise ValueError("is_open needs an aware datetime")
        if not self.business_hours:
            return True
        local = at.astimezone(self.zone)
        now, today = local.time(), local.date()
        yesterday = today - dt.timedelta(days=1)
        ranges, holidays = self._ranges(), self._holiday_dates()
        if today not in holidays:
            for start, end in ranges.get(today.weekday(), []):
                if end is None or end <= start:  # to midnight, or past it
                    if now >= start:
                        return True
                elif start <= now < end:
                    return True
        if yesterday not in holidays:
            for start, end in ranges.get(yesterday.weekday(), []):
                if end is not None and end <= start and now < end:  # the tail of last night's range
                    return True
        return False

    def next_open_at(self, at: dt.datetime, *, days: int = 370) -> dt.datetime | None:
        """When the queue next opens at or after `at` (`at` itself when open now), as an aware
        datetime in the queue's zone; None when it does not open within `days`. An opening that
        falls in a daylight-saving gap (02:30 on the spring-forward night) is the end of the gap
        (03:00), the instant is_open turns true."""
        if self.is_open(at):
            return at.astimezone(self.zone)
        zone = self.zone
        ranges, holidays = self._ranges(), self._holiday_dates()
        start_date = at.astimezone(zone).date()
        for offset in range(days + 1):
            day = start_date + dt.timedelta(days=offset)
            if day in holidays:
                continue
            for start, _end in sorted(ranges.get(day.weekday(), []), key=lambda r: r[0]):
                opening = _first_instant_at(dt.datetime.combine(day, start), zone)
                if opening >= at:
                    return opening
        return None


def _first_instant_at(wall: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The first instant whose wall clock in `zone` reads `wall` or later: `wall` itself (its
    first occurrence when the clock goes back), or the end of the gap when the clock jumps over
    it (02:30 on the spring-forward night opens at 03:00)."""
    first = wall.replace(tzinfo=zone, fold=0)
    if first.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap: fold=1 reads the wall time with the offset after the jump (an instant before the
    # gap), fold=0 with the offset before it (an instant after); the jump lies between.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(dt.UTC)
    high = first.astimezone(dt.UTC)
    after = high.astimezone(zone).utcoffset()
    while high - low > dt.timedelta(microseconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high.astimezone(zone)


class QueueSkill(models.Model):
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="required_skills")
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="+")
    min_level = models.PositiveSmallIntegerField(default=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["queue", "skill"], name="queue_skill_unique")]

    def __str__(self) -> str:
        return f"{self.skill} >= {self.min_level}"


class NotReadyReason(models.Model):
    code = models.SlugField(max_length=32, unique=True)
    label = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["label"]

    def __str__(self) -> str:
        return self.label


class AgentState(models.TextChoices):
    OFFLINE = "offline", "Offline"
    AVAILABLE = "available", "Available"
    OFFERED = "offered", "Offered"
    BUSY = "busy", "Busy"
    WRAP_UP = "wrap_up", "Wrap-up"
    NOT_READY = "not_ready", "Not ready"
    # Held for an outbound call being placed (preview and progressive dialing).
    RESERVED = "reserved", "Reserved for a call"


class Presence(models.TextChoices):
    """What the agent chose (or a timeout chose for them). The shown state derives from it and
    from the interactions the agent holds."""

    OFFLINE = "offline", "Offline"
    AVAILABLE = "available", "Available"
    NOT_READY = "not_ready", "Not ready"


class AgentProfile(models.Model):
    """An agent's contact-center side. `state` is derived (presence plus what the agent holds)
    and stored so the wallboard and reports read it; `idle_since` feeds longest-idle routing,
    `last_offer_at` round robin, `total_load` least occupied. Only services change these, with
    this row locked."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent")
    queues = models.ManyToManyField(Queue, blank=True, related_name="agents")
    presence = models.CharField(max_length=16, choices=Presence.choices, default=Presence.OFFLINE)
    not_ready_reason = models.ForeignKey(
        NotReadyReason, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=16, choices=AgentState.choices, default=AgentState.OFFLINE)
    state_since = models.DateTimeField(null=True, blank=True)
    idle_since = models.DateTimeField(null=True, blank=True)
    last_offer_at = models.DateTimeField(null=True, blank=True)
    total_load = models.PositiveIntegerField(default=0)
    real_time_load = models.PositiveIntegerField(default=0)
    last_seen_at = models.DateTimeField(null=True, blank=True, help_text="Last heartbeat or websocket")
    # Offers in a row that timed out without the agent's page ever showing them
    # (services.interaction_offer_expire): a page that stays connected but shows nothing.
    unseen_offers = models.PositiveSmallIntegerField(default=0)
    version = models.PositiveBigIntegerField(default=0)
    # Device for voice: a softphone identity, a phone number or a SIP URI.
    client_identity = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    sip_uri = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["user__username"]
        indexes = [models.Index(fields=["presence", "idle_since"], name="agent_presence_idle_idx")]

    def __str__(self) -> str:
        return str(self.user)


class AgentSkill(models.Model):
    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="skills")
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="agent_skills")
    level = models.PositiveSmallIntegerField(default=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "skill"], name="agent_skill_unique")]

    def __str__(self) -> str:
        return f"{self.skill} {self.level}"


class AgentCapacity(models.Model):
    """How many interactions of one channel the agent handles at once, and how many they hold
    now (offered, active or in wrap-up). A channel without a row is not served by the agent."""

    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="capacities")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    capacity = models.PositiveSmallIntegerField(default=1)
    load = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "channel"], name="agent_capacity_unique"),
            models.CheckConstraint(
                condition=Q(load__lte=models.F("capacity")), name="agent_load_within_capacity"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.load}/{self.capacity}"


class AgentStateChange(models.Model):
    """Agent state history: one row per state, closed when the next starts."""

    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="state_changes")
    state = models.CharField(max_length=16, choices=AgentState.choices)
    reason = models.ForeignKey(
        NotReadyReason, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["agent", "-started_at"], name="agent_state_agent_idx")]

    def __str__(self) -> str:
        return f"{self.agent} {self.state} from {self.started_at:%Y-%m-%d %H:%M:%S}"


class Interaction(models.Model):
    channel = models.CharField(max_length=16, choices=Channel.choices)
    direction = models.CharField(max_length=16, choices=Direction.choices, default=Direction.INBOUND)
    # db_index=False on customer and agent: the composite indexes in Meta lead with them and
    # serve every lookup (and the foreign keys' checks) a single-column index would; routing
    # inserts a row per arrival, so an index nobody needs is a cost on the hottest write.
    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="interactions",
        db_index=False,
    )
    contact = models.CharField(max_length=254, blank=True, help_text="Phone, email or handle as received")
    queue = models.ForeignKey(
        Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="interactions"
    )
    agent = models.ForeignKey(
        AgentProfile,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="interactions",
        db_index=False,
    )
    status = models.CharField(
        max_length=16, choices=InteractionStatus.choices, default=InteractionStatus.QUEUED
    )
    priority = models.SmallIntegerField(default=0)
    subject = models.CharField(max_length=200, blank=True)
    disposition = models.ForeignKey(
        Disposition, null=True, blank=True, on_delete=models.PROTECT, related_name="interactions"
    )
    callback_at = models.DateTimeField(null=True, blank=True)
    # The callback goes back to the agent who set it (else to any agent of the campaign or queue).
    callback_personal = models.BooleanField(default=False)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    offered_at = models.DateTimeField(null=True, blank=True)
    offer_expires_at = models.DateTimeField(null=True, blank=True)
    # When the agent's page showed the current offer (services.interaction_offer_seen); an
    # acknowledgement older than offered_at belongs to an earlier offer.
    offer_seen_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    wrap_up_at = models.DateTimeField(null=True, blank=True)
    wrap_up_expires_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    abandoned_at = models.DateTimeField(null=True, blank=True)
    # Call control (voice and video): what the agent's phone does now, and the hold time so
    # far (a hold still running is hold_started_at..now on top of hold_seconds).
    on_hold = models.BooleanField(default=False)
    muted = models.BooleanField(default=False)
    hold_started_at = models.DateTimeField(null=True, blank=True)
    hold_seconds = models.PositiveIntegerField(default=0)
    hold_count = models.PositiveSmallIntegerField(default=0)
    # Outbound calls: the number shown to the customer and what the call did.
    caller_id = models.CharField(max_length=32, blank=True)
    call_outcome = models.CharField(max_length=16, choices=CallOutcome.choices, blank=True)
    # When the call was placed: the dial timer counts from here (a previewed call is dialled
    # long after the interaction was created and offered).
    dialed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The waiting line: routing's "best waiting interaction" reads it in this order.
            models.Index(
                fields=["queue", "-priority", "queued_at", "id"],
                name="interaction_waiting_idx",
                condition=Q(status=InteractionStatus.QUEUED),
            ),
            models.Index(fields=["agent", "status"], name="interaction_agent_idx"),
            models.Index(fields=["customer", "-created_at"], name="interaction_customer_idx"),
            models.Index(
                fields=["offer_expires_at"],
                name="interaction_offer_idx",
                condition=Q(status=InteractionStatus.OFFERED),
            ),
            # The dial timer's read: outbound calls still being placed, oldest first.
            models.Index(
                fields=["created_at"],
                name="interaction_placing_idx",
                condition=Q(status__in=[InteractionStatus.DIALING, InteractionStatus.RINGING]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class InteractionEvent(models.Model):
    """Every state change of an interaction, in order: reports and audits replay these."""

    # No single-column index: interaction_event_idx (interaction, at) leads with it.
    interaction = models.ForeignKey(
        Interaction, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    kind = models.CharField(max_length=32)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    agent = models.ForeignKey(
        AgentProfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["interaction", "at"], name="interaction_event_idx")]

    def __str__(self) -> str:
        return f"#{self.interaction_id} {self.kind} at {self.at:%Y-%m-%d %H:%M:%S}"


class ParticipantRole(models.TextChoices):
    CONFERENCE = "conference", "Conference"  # an agent or a number added to the call
    LISTEN = "listen", "Listen"  # a supervisor hears both sides, nobody hears them
    WHISPER = "whisper", "Whisper"  # a supervisor speaks to the agent only
    BARGE = "barge", "Barge"  # a supervisor joins the conversation


MONITOR_ROLES = (ParticipantRole.LISTEN, ParticipantRole.WHISPER, ParticipantRole.BARGE)


class InteractionParticipant(models.Model):
    """Someone on a call besides its customer and its agent: a colleague or an outside number
    added to a conference, or a supervisor listening, whispering or barging in. One row per
    stay; a supervisor switching mode leaves one row and joins another. A conferenced agent
    holds one unit of their load on the call's channel until they leave."""

    interaction = models.ForeignKey(Interaction, on_delete=models.CASCADE, related_name="participants")
    agent = models.ForeignKey(
        AgentProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="participations"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    number = models.CharField(max_length=32, blank=True, help_text="An outside number (E.164)")
    role = models.CharField(max_length=16, choices=ParticipantRole.choices)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    joined_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["interaction", "user"],
                condition=Q(left_at__isnull=True, user__isnull=False),
                name="participant_user_once",
            ),
            models.UniqueConstraint(
                fields=["interaction", "agent"],
                condition=Q(left_at__isnull=True, agent__isnull=False),
                name="participant_agent_once",
            ),
        ]
        indexes = [
            models.Index(
                fields=["interaction"], name="participant_on_call_idx", condition=Q(left_at__isnull=True)
            ),
            models.Index(fields=["agent"], name="participant_agent_idx", condition=Q(left_at__isnull=True)),
        ]

    def __str__(self) -> str:
        who = self.number or (str(self.user) if self.user_id else f"agent {self.agent_id}")
        return f"{who} ({self.role}) on #{self.interaction_id}"


class Message(models.Model):
    """One message of a text interaction. (provider, provider_id) is unique, so a webhook that
    delivers the same message twice stores it once."""

    interaction = models.ForeignKey(Interaction, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=16, choices=Direction.choices)
    sender = models.CharField(max_length=200, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)
    provider = models.CharField(max_length=32, blank=True)
    provider_id = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "provider_id"], name="message_provider_unique"),
        ]
        indexes = [models.Index(fields=["interaction", "created_at"], name="message_interaction_idx")]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} message on #{self.interaction_id}"


def event_payload(**fields: Any) -> dict[str, Any]:
    """JSON-safe values for InteractionEvent.data."""
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in fields.items()}
