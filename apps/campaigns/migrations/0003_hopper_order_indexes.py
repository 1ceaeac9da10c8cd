"""PostgreSQL-only indexes in the hopper's exact order (apps.campaigns.dialer.hopper): the
claim reads the due callbacks by (next_attempt_at NULLS FIRST, id), then the other due leads by
(priority DESC, next_attempt_at NULLS FIRST, id), each for one campaign. PostgreSQL sorts NULLs
last in an ascending index, so lead_hopper_idx (which SQLite, whose ascending order puts NULLs
first, reads as it is) would leave PostgreSQL sorting every diallable lead of the campaign on
each tick. SQLite cannot declare NULLS FIRST in an index; there these operations do nothing."""

from django.db import migrations
from django.db.models import F, Index, Q

DUE = Index(
    F("campaign"),
    F("priority").desc(),
    F("next_attempt_at").asc(nulls_first=True),
    F("id"),
    name="lead_hopper_due_pg_idx",
    condition=Q(status__in=["new", "retry"]),
)
CALLBACKS = Index(
    F("campaign"),
    F("next_attempt_at").asc(nulls_first=True),
    F("id"),
    name="lead_callback_due_pg_idx",
    condition=Q(status="callback"),
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    lead = apps.get_model("campaigns", "Lead")
    schema_editor.add_index(lead, DUE)
    schema_editor.add_index(lead, CALLBACKS)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    lead = apps.get_model("campaigns", "Lead")
    schema_editor.remove_index(lead, DUE)
    schema_editor.remove_index(lead, CALLBACKS)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0002_dialer_beat")]
    operations = [migrations.RunPython(forwards, backwards)]
