"""Beat's dial timer: outbound calls the voice connector never reported on end as not answered, so
a reserved agent is never held for good. Every 5 seconds; the task is idempotent."""

from django.db import migrations

NAME = "contact center: end unreported outbound calls"
TASK = "apps.interactions.tasks.dials_expire_due"


def forwards(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    every_5s, _ = interval_model.objects.get_or_create(every=5, period="seconds")
    apps.get_model("django_celery_beat", "PeriodicTask").objects.update_or_create(
        name=NAME, defaults={"task": TASK, "interval": every_5s, "enabled": True}
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("interactions", "0006_outbound_calls"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
