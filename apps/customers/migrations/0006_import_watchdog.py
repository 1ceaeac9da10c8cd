"""Beat's import watchdog: a running import whose worker stopped reporting (died, killed at its
time limit) is marked failed with a message instead of showing "running" for good. Every
minute; the task is idempotent."""

from django.db import migrations

NAME = "imports: fail imports whose worker stopped"
TASK = "apps.customers.tasks.import_jobs_fail_stalled"


def forwards(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    every_minute, _ = interval_model.objects.get_or_create(every=60, period="seconds")
    apps.get_model("django_celery_beat", "PeriodicTask").objects.update_or_create(
        name=NAME, defaults={"task": TASK, "interval": every_minute, "enabled": True}
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0005_import_heartbeat"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
