"""The offer timer is beat's tick: "contact center: expire due offers" runs every second (it was
every 5 seconds behind a Celery task scheduled per offer, which cost a broker message on the
routing path)."""

from django.db import migrations

NAME = "contact center: expire due offers"


def every(apps, seconds):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    interval, _ = interval_model.objects.get_or_create(every=seconds, period="seconds")
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).update(interval=interval)


def forwards(apps, schema_editor):
    every(apps, 1)


def backwards(apps, schema_editor):
    every(apps, 5)


class Migration(migrations.Migration):
    dependencies = [
        ("interactions", "0003_transfers_voice_hours"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
