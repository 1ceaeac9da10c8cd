from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


class LifecycleStage(models.TextChoices):
    LEAD = "lead", "Lead"
    PROSPECT = "prospect", "Prospect"
    CUSTOMER = "customer", "Customer"
    CHURNED = "churned", "Churned"
    OTHER = "other", "Other"


class Organization(models.Model):
    name = models.CharField(max_length=200, unique=True)
    domain = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(Lower("name"), name="organization_lower_name_idx")]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=64, unique=True)
    color = models.CharField(max_length=7, default="#64748b", help_text="CSS hex colour, e.g. #0ea5e9")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CustomFieldType(models.TextChoices):
    TEXT = "text", "Text"
    INTEGER = "integer", "Whole number"
    DECIMAL = "decimal", "Decimal number"
    BOOLEAN = "boolean", "Yes/no"
    DATE = "date", "Date (YYYY-MM-DD)"
    CHOICE = "choice", "One of a list"
    URL = "url", "Web address"


class CustomFieldDefinition(models.Model):
    """An admin-defined field; Customer.custom_fields is validated against the active ones."""

    key = models.SlugField(max_length=64, unique=True, help_text="Stored key, e.g. contract_number")
    label = models.CharField(max_length=100)
    field_type = models.CharField(
        max_length=16, choices=CustomFieldType.choices, default=CustomFieldType.TEXT
    )
    choices = models.JSONField(default=list, blank=True, help_text='For "one of a list": ["gold", "silver"]')
    required = models.BooleanField(default=False)
    help_text = models.CharField(max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "key"]

    def __str__(self) -> str:
        return f"{self.label} ({self.key})"


class Customer(models.Model):
    """A person the operation talks to. Personal data can be erased while the row stays, so the
    interactions that point to it keep counting in statistics."""

    # Unique through Meta.constraints rather than unique=True: the same index, without the extra
    # varchar_pattern_ops copy Django adds for unique CharFields on PostgreSQL (nothing searches
    # external ids by pattern, and every index costs the import).
    external_id = models.CharField(
        max_length=100, null=True, blank=True, help_text="Identifier in the source system"
    )
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="customers"
    )
    job_title = models.CharField(max_length=100, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_customers",
        db_index=False,  # customer_owner_idx starts with owner_id
    )
    lifecycle_stage = models.CharField(
        max_length=16, choices=LifecycleStage.choices, default=LifecycleStage.LEAD
    )
    time_zone = models.CharField(
        max_length=64, blank=True, help_text="IANA zone; derived from the phone's region when left empty"
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers")
    custom_fields = models.JSONField(default=dict, blank=True)
    # Lower-cased name, organization, emails and phone digits, kept by services; PostgreSQL indexes
    # it for full-text and trigram search (see migration 0002).
    search_text = models.TextField(blank=True, default="", editable=False)
    is_erased = models.BooleanField(default=False)
    erased_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["last_name", "first_name"], name="customer_name_idx"),
            models.Index(fields=["owner", "-updated_at"], name="customer_owner_idx"),
            models.Index(fields=["lifecycle_stage"], name="customer_stage_idx"),
        ]
        constraints = [models.UniqueConstraint(fields=["external_id"], name="customer_external_id_unique")]
        permissions = [
            ("merge_customer", "Can merge duplicate customers"),
            ("export_customer", "Can export customers (CSV and GDPR JSON)"),
            ("erase_customer", "Can erase a customer's personal data (GDPR)"),
            ("import_customers", "Can import customers from CSV/XLSX"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        if self.is_erased:
            return f"Erased customer #{self.pk}"
        name = f"{self.first_name} {self.last_name}".strip()
        return name or f"Customer #{self.pk}"


class ContactPointKind(models.TextChoices):
    PHONE = "phone", "Phone"
    EMAIL = "email", "Email"
    SOCIAL = "social", "Social handle"


class SocialNetwork(models.TextChoices):
    WHATSAPP = "whatsapp", "WhatsApp"
    FACEBOOK = "facebook", "Facebook Messenger"
    INSTAGRAM = "instagram", "Instagram"
    X = "x", "X (Twitter)"
    TELEGRAM = "telegram", "Telegram"
    LINKEDIN = "linkedin", "LinkedIn"


class ContactPoint(models.Model):
    """One way to reach a customer. `value` is normalized (E.164 phone, lower-case email, lower-case
    handle), and (kind, network, value) is unique: a contact point belongs to one customer, which
    is what lets inbound routing resolve a caller in one indexed lookup."""

    # contact_point_customer_idx (customer, kind) serves the foreign key; no second index.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="contact_points", db_index=False
    )
    kind = models.CharField(max_length=8, choices=ContactPointKind.choices)
    network = models.CharField(max_length=16, choices=SocialNetwork.choices, blank=True, default="")
    value = models.CharField(max_length=254)
    label = models.CharField(max_length=32, blank=True, help_text="mobile, work, home, ...")
    is_primary = models.BooleanField(default=False)
    # Consent, per channel, each with when and from where it was set.
    do_not_call = models.BooleanField(default=False)
    do_not_call_at = models.DateTimeField(null=True, blank=True)
    do_not_call_source = models.CharField(max_length=100, blank=True)
    email_opt_out = models.BooleanField(default=False)
    email_opt_out_at = models.DateTimeField(null=True, blank=True)
    email_opt_out_source = models.CharField(max_length=100, blank=True)
    sms_opt_in = models.BooleanField(default=False)
    sms_opt_in_at = models.DateTimeField(null=True, blank=True)
    sms_opt_in_source = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_primary", "kind", "id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "network", "value"], name="contact_point_unique"),
        ]
        indexes = [models.Index(fields=["customer", "kind"], name="contact_point_customer_idx")]

    def __str__(self) -> str:
        prefix = f"{self.network}:" if self.network else ""
        return f"{prefix}{self.value}"


class Note(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="note_customer_idx")]

    def __str__(self) -> str:
        return self.body[:60]


class MergeRecord(models.Model):
    """A merge: which customer absorbed which, by whom, and a snapshot of the absorbed record."""

    survivor = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="merges")
    merged_customer_id = models.BigIntegerField(db_index=True)
    merged_snapshot = models.JSONField(default=dict)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    merged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-merged_at"]

    def __str__(self) -> str:
        return f"#{self.merged_customer_id} into #{self.survivor_id}"


class ImportStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ImportJob(models.Model):
    """One CSV/XLSX import. Good rows land, rejected rows are kept with their line and reason."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Moved by the worker at every batch: a running job whose heartbeat is old lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=16, default="admin")
    file = models.FileField(upload_to="imports/%Y/%m/")
    file_name = models.CharField(max_length=255)
    mapping = models.JSONField(default=dict, blank=True, help_text="field -> column header")
    default_region = models.CharField(max_length=2, default="US")
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="import_job_status_beat_idx")]

    def __str__(self) -> str:
        return f"Import #{self.pk} {self.file_name}"

    @property
    def progress_percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == ImportStatus.DONE else 0
        return min(100, round(100 * self.processed_rows / self.total_rows))


class ImportRowError(models.Model):
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    line_number = models.PositiveIntegerField()
    reason = models.TextField()
    raw = models.JSONField(default=dict)

    class Meta:
        ordering = ["job", "line_number"]
        indexes = [models.Index(fields=["job", "line_number"], name="import_error_job_line_idx")]

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.reason}"


class ErasedContact(models.Model):
    """A contact point of a person whose personal data was erased, kept only as a keyed one-way
    hash (apps.customers.erasure): enough to recognize the value when it comes back (a later
    create, an import, an inbound contact), never enough to read it back."""

    digest = models.CharField(max_length=64, unique=True, editable=False)
    erased_at = models.DateTimeField()

    class Meta:
        ordering = ["-erased_at", "-id"]

    def __str__(self) -> str:
        return f"erased contact {self.digest[:12]}…"
