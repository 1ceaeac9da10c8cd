"""Beat's campaign ticks, every 2 seconds: the dialer (one tick of every active progressive,
power and predictive voice campaign, apps.campaigns.dialer.tick) and the SMS and email sends
(apps.campaigns.services.sends). Both tasks are idempotent."""

from django.db import migrations

TICKS = [
    (
        "campaigns: dialer tick",
        "apps.campaigns.tasks_dialer.campaigns_tick",
        "Places the next calls of the system-dialled voice campaigns.",
    ),
    (
        "campaigns: SMS and email send tick",
        "apps.campaigns.tasks_sends.sends_tick",
        "Sends the next texts and emails of the active campaigns, within their throttle.",
    ),
]


def forwards(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    every_2s, _ = interval_model.objects.get_or_create(every=2, period="seconds")
    for name, task, description in TICKS:
        apps.get_model("django_celery_beat", "PeriodicTask").objects.update_or_create(
            name=name,
            defaults={
                "task": task,
                "interval": every_2s,
                "enabled": True,
                # A tick a stopped worker never ran is dropped, not replayed in a burst on restart.
                "expire_seconds": 10,
                "description": description,
            },
        )


def backwards(apps, schema_editor):
    names = [name for name, _, _ in TICKS]
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=names).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
