"""Outbound campaigns: what is dialled, texted or emailed, to whom, when, and what every attempt
and every compliance decision was.

A Lead is one contact point (an E.164 number or an email address) of one customer in one
campaign; it carries the attempts made, the last disposition, when it is next due and who owns
its callback. The dialer's hopper claims due leads with SKIP LOCKED (claimed_until), so two
ticks in two processes never dial one lead. Every decision the compliance gate takes, allowed or
refused, is a ContactLog row: the audit that proves no contact went to a do-not-call number or
outside its window.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.interactions.models import DispositionCategory


class CampaignChannel(models.TextChoices):
    VOICE = "voice", "Voice calls"
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"


class DialMode(models.TextChoices):
    PREVIEW = "preview", "Preview (the agent sees the lead, then dials or skips)"
    PROGRESSIVE = "progressive", "Progressive (one call per free agent)"
    POWER = "power", "Power (a fixed number of lines per free agent)"
    PREDICTIVE = "predictive", "Predictive (paced on answer rate and handle time)"
    BROADCAST = "broadcast", "Agentless broadcast (a recorded or spoken message)"


class BroadcastAction(models.TextChoices):
    """What the keys pressed during an agentless broadcast do."""

    PRESS_ONE = "press_one", "Press 1 to speak to an agent"
    APPOINTMENT = "appointment", "Press 1 to confirm, 2 to cancel the appointment"
    MESSAGE_ONLY = "message_only", "Message only"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"


# The legal outer bounds of an outbound contact in the customer's local time, whatever a
# campaign's own window says (the TCPA's 8 a.m. to 9 p.m.).
EARLIEST_LOCAL = "08:00"
LATEST_LOCAL = "21:00"
ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def default_days() -> list[str]:
    return ["mon", "tue", "wed", "thu", "fri"]


class Campaign(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    channel = models.CharField(max_length=8, choices=CampaignChannel.choices, default=CampaignChannel.VOICE)
    dial_mode = models.CharField(
        max_length=16, choices=DialMode.choices, default=DialMode.PREVIEW, help_text="Voice campaigns only"
    )
    # Who works it: the agents of this queue (its skills, capacity and the ACD decide who gets
    # which answered call, exactly as for inbound work).
    queue = models.ForeignKey(
        "interactions.Queue",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text="The agents of this queue work the campaign",
    )
    disposition_set = models.ForeignKey(
        "interactions.DispositionSet",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text="The outcomes agents choose from at wrap-up (else the queue's)",
    )
    caller_id = models.CharField(max_length=32, blank=True, help_text="E.164 number shown to the customer")
    lines_per_agent = models.DecimalField(
        max_digits=4, decimal_places=2, default=2, help_text="Power mode: lines dialled per free agent"
    )
    broadcast_lines = models.PositiveSmallIntegerField(
        default=10, help_text="Agentless broadcast: calls placed at once"
    )
    max_abandon_percent = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        default=3,
        help_text="Predictive mode: abandoned / answered calls kept under this over 30 days",
    )
    # Calling window, in each lead's own local time (never outside 08:00-21:00 local).
    window_start = models.TimeField(default="09:00")
    window_end = models.TimeField(default="20:00")
    window_days = models.JSONField(default=default_days, help_text='Days of week, e.g. ["mon", "tue"]')
    holiday_country = models.CharField(
        max_length=2,
        blank=True,
        help_text="ISO country whose public holidays are not called (holidays package)",
    )
    holiday_subdivision = models.CharField(max_length=8, blank=True, help_text="State or province, e.g. CA")
    time_zone = models.CharField(
        max_length=64, default="UTC", help_text="Used for a lead whose own time zone is unknown"
    )
    max_attempts_per_lead = models.PositiveSmallIntegerField(default=5)
    max_attempts_per_number = models.PositiveSmallIntegerField(default=3)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    # Messages: the SMS/email text and the broadcast's spoken text, with {merge_fields}.
    message_subject = models.CharField(max_length=200, blank=True, help_text="Email subject")
    message_body = models.TextField(blank=True, help_text="SMS or email text, or the broadcast's spoken text")
    recording_url = models.URLField(blank=True, help_text="Broadcast: a recorded message instead of speech")
    broadcast_action = models.CharField(
        max_length=16, choices=BroadcastAction.choices, default=BroadcastAction.PRESS_ONE, blank=True
    )
    sends_per_minute = models.PositiveIntegerField(default=60, help_text="SMS/email throttle")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status"], name="campaign_status_idx")]

    def __str__(self) -> str:
        return self.name


class CampaignStatusChange(models.Model):
    """The audit of a campaign's status transitions (draft, active, paused, completed)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=CampaignStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=CampaignStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=100, blank=True, help_text="A system actor's name")
    reason = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.from_status or '-'} -> {self.to_status}"


class RetryRule(models.Model):
    """When a lead whose last attempt ended in this disposition category is due again, e.g. busy
    after 15 minutes, no answer after 2 hours, voicemail the next day. A category without a rule
    uses the campaign's defaults (apps.campaigns.retry)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="retry_rules")
    category = models.CharField(max_length=16, choices=DispositionCategory.choices)
    disposition = models.ForeignKey(
        "interactions.Disposition",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="A rule for one disposition wins over its category's",
    )
    delay_minutes = models.PositiveIntegerField()
    max_attempts = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Stop retrying after this many attempts ending this way"
    )

    class Meta:
        ordering = ["campaign", "category"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "category"],
                condition=Q(disposition__isnull=True),
                name="retry_rule_category_unique",
            ),
            models.UniqueConstraint(
                fields=["campaign", "disposition"],
                condition=Q(disposition__isnull=False),
                name="retry_rule_disposition_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.category}: {self.delay_minutes} min"


class ListSource(models.TextChoices):
    UPLOAD = "upload", "Uploaded file"
    SEGMENT = "segment", "Customer segment"


class ContactList(models.Model):
    """Leads from an uploaded CSV/XLSX (through the customers import: same mapping, error
    report and upsert) or from a saved customer segment (filters on fields, tags, lifecycle stage
    and custom fields). An appointment list names the date-time field and how many hours before
    it each lead is due."""

    name = models.CharField(max_length=100)
    source = models.CharField(max_length=16, choices=ListSource.choices, default=ListSource.UPLOAD)
    import_job = models.OneToOneField(
        "customers.ImportJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="contact_list"
    )
    segment_filters = models.JSONField(
        default=dict,
        blank=True,
        help_text='Segment: {"tags": ["vip"], "lifecycle_stage": "customer", "custom_fields": {"plan": "gold"}}',
    )
    appointment_field = models.CharField(
        max_length=64, blank=True, help_text="Appointment reminders: the row's date-time field"
    )
    remind_hours_before = models.PositiveSmallIntegerField(null=True, blank=True)
    lead_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class ContactListMember(models.Model):
    """A customer an uploaded list's rows named, with that row's own fields: what the list gives
    a campaign it is attached to later (a segment list evaluates its segment instead)."""

    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="members")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    fields = models.JSONField(default=dict, blank=True, help_text="The row's own extra columns")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact_list", "customer"], name="contact_list_member_unique")
        ]
        indexes = [models.Index(fields=["customer"], name="list_member_customer_idx")]

    def __str__(self) -> str:
        return f"customer #{self.customer_id} in list #{self.contact_list_id}"


class CampaignList(models.Model):
    """A list attached to a campaign: higher priority lists are dialled first; among lists of
    one priority, leads are drawn in proportion to weight."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="list_links")
    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="campaign_links")
    priority = models.PositiveSmallIntegerField(default=0)
    weight = models.PositiveSmallIntegerField(default=1)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["campaign", "-priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact_list"], name="campaign_list_unique")
        ]

    def __str__(self) -> str:
        return f"{self.contact_list} in {self.campaign}"


class LeadStatus(models.TextChoices):
    NEW = "new", "New"
    RETRY = "retry", "Waiting to retry"
    CALLBACK = "callback", "Callback scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    EXHAUSTED = "exhausted", "No attempts left"
    DNC = "dnc", "Do not call"
    INVALID = "invalid", "Invalid number"


# Statuses the hopper draws from (when next_attempt_at is due).
DIALLABLE_STATUSES = (LeadStatus.NEW, LeadStatus.RETRY, LeadStatus.CALLBACK)


class Lead(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="leads")
    contact_list = models.ForeignKey(
        ContactList, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    # The E.164 number or the lower-case address this lead is contacted on.
    contact = models.CharField(max_length=254)
    # IANA zones the contact may be in (a number's area code can span two): the window must
    # hold in every one. Filled at import from phonenumbers' time-zone data or the customer's zone.
    time_zones = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=LeadStatus.choices, default=LeadStatus.NEW)
    priority = models.SmallIntegerField(default=0, help_text="Copied from its list's priority")
    attempts = models.PositiveSmallIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_disposition = models.ForeignKey(
        "interactions.Disposition", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Due from; empty: due now")
    callback_at = models.DateTimeField(null=True, blank=True)
    callback_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="callback_leads",
        help_text="Empty: any agent of the campaign",
    )
    # The hopper's claim: a tick holds the lead until this time (then another tick may take it).
    claimed_until = models.DateTimeField(null=True, blank=True)
    fields = models.JSONField(default=dict, blank=True, help_text="The row's own extra columns, for scripts")
    appointment_at = models.DateTimeField(null=True, blank=True)
    appointment_answer = models.CharField(max_length=16, blank=True, help_text="confirmed / cancelled")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["campaign", "-priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact"], name="lead_campaign_contact_unique")
        ]
        indexes = [
            # The hopper's read: a campaign's diallable leads, due callbacks and priorities first.
            models.Index(
                fields=["campaign", "-priority", "next_attempt_at", "id"],
                name="lead_hopper_idx",
                condition=Q(status__in=["new", "retry", "callback"]),
            ),
            models.Index(fields=["callback_owner", "callback_at"], name="lead_callback_idx"),
            models.Index(fields=["contact"], name="lead_contact_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.contact} in campaign #{self.campaign_id}"


class AttemptStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    DIALING = "dialing", "Dialing"
    ANSWERED = "answered", "Answered"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    BOUNCED = "bounced", "Bounced"
    FAILED = "failed", "Failed"
    ENDED = "ended", "Ended"
    ABANDONED = "abandoned", "Abandoned (answered, no agent in time)"
    SKIPPED = "skipped", "Skipped by the agent"


class LeadAttempt(models.Model):
    """One dial, text or email to a lead. A voice attempt points to the outbound Interaction the
    ACD routed; its outcome and disposition come back from the interaction's signals."""

    # attempt_lead_idx and attempt_campaign_idx start with these keys: no second index.
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="lead_attempts", db_index=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="attempts", db_index=False)
    interaction = models.OneToOneField(
        "interactions.Interaction",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="lead_attempt",
    )
    channel = models.CharField(max_length=8, choices=CampaignChannel.choices)
    contact = models.CharField(max_length=254)
    status = models.CharField(max_length=16, choices=AttemptStatus.choices, default=AttemptStatus.QUEUED)
    outcome = models.CharField(
        max_length=16, blank=True, help_text="The gateway's: answered, busy, machine..."
    )
    disposition = models.ForeignKey(
        "interactions.Disposition", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agent = models.ForeignKey(
        "interactions.AgentProfile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider_id = models.CharField(max_length=100, blank=True, help_text="The gateway's message id")
    skip_reason = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True, help_text="An agent took the answered call")
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["campaign", "-started_at"], name="attempt_campaign_idx"),
            models.Index(fields=["lead", "-started_at"], name="attempt_lead_idx"),
            models.Index(fields=["contact", "-started_at"], name="attempt_contact_idx"),
            models.Index(fields=["provider_id"], name="attempt_provider_idx", condition=~Q(provider_id="")),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.contact} ({self.status})"


class DncListKind(models.TextChoices):
    INTERNAL = "internal", "Internal (the company's own)"
    CAMPAIGN = "campaign", "One campaign's"
    NATIONAL = "national", "National registry"


class DncList(models.Model):
    """A do-not-call list. The internal list is the company's own (a do-not-call disposition adds
    to it); a campaign list applies to one campaign; national lists (millions of numbers) are
    loaded in bulk from the registry's file. The gate checks every one at the moment of each
    contact by an index lookup on DncEntry.number."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=DncListKind.choices)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.CASCADE, related_name="dnc_lists"
    )
    source = models.CharField(max_length=200, blank=True, help_text="Where the numbers came from")
    entry_count = models.PositiveIntegerField(default=0)
    loaded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="campaign", campaign__isnull=False)
                | (~Q(kind="campaign") & Q(campaign__isnull=True)),
                name="dnc_list_campaign_only_for_campaign_kind",
            )
        ]

    def __str__(self) -> str:
        return self.name


class DncEntry(models.Model):
    dnc_list = models.ForeignKey(DncList, on_delete=models.CASCADE, related_name="entries", db_index=False)
    number = models.CharField(max_length=16, help_text="E.164")
    added_at = models.DateTimeField(auto_now_add=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["dnc_list", "number"]
        constraints = [models.UniqueConstraint(fields=["number", "dnc_list"], name="dnc_entry_unique")]
        verbose_name_plural = "DNC entries"

    def __str__(self) -> str:
        return self.number


class ContactLog(models.Model):
    """Every decision of the compliance gate, allowed or refused: which lead and number, on which
    channel, the contact's local time, and the rule that decided. Reports read the refusals by
    reason; an audit reads that no contact went to a do-not-call number or outside its window."""

    at = models.DateTimeField()
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    customer_id = models.BigIntegerField(null=True, blank=True)
    channel = models.CharField(max_length=16)
    contact = models.CharField(max_length=254)
    local_time = models.CharField(
        max_length=64, blank=True, help_text="e.g. 2026-12-03 14:05 America/Chicago"
    )
    allowed = models.BooleanField()
    rule = models.CharField(max_length=32, help_text="The rule that allowed or refused it")
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["campaign", "-at"], name="contact_log_campaign_idx"),
            models.Index(fields=["contact", "-at"], name="contact_log_contact_idx"),
            models.Index(fields=["customer_id", "-at"], name="contact_log_customer_idx"),
            models.Index(fields=["allowed", "rule", "-at"], name="contact_log_rule_idx"),
        ]

    def __str__(self) -> str:
        return f"{'allowed' if self.allowed else 'refused'} {self.channel} to {self.contact} ({self.rule})"
