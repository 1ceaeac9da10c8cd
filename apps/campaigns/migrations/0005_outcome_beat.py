"""Beat's call-outcome timers, every second: the 2-second rule (answered campaign calls no agent
took are abandoned with their recorded message) and the built-in voice simulator's status reports
(it reports nothing while a real voice gateway is registered). Both tasks are idempotent."""

from django.db import migrations

TIMERS = [
    (
        "campaigns: abandon unconnected calls",
        "apps.campaigns.tasks_outcomes.calls_abandon_unconnected",
        "Abandons answered campaign calls no agent took within 2 seconds, with the abandon message.",
    ),
    (
        "campaigns: voice simulator reports",
        "apps.campaigns.tasks_outcomes.simulator_report_due",
        "Reports what the simulated customers did with the calls the built-in voice simulator placed.",
    ),
]


def forwards(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    every_1s, _ = interval_model.objects.get_or_create(every=1, period="seconds")
    for name, task, description in TIMERS:
        apps.get_model("django_celery_beat", "PeriodicTask").objects.update_or_create(
            name=name,
            defaults={
                "task": task,
                "interval": every_1s,
                "enabled": True,
                # A run a stopped worker never made is dropped, not replayed in a burst on restart.
                "expire_seconds": 5,
                "description": description,
            },
        )


def backwards(apps, schema_editor):
    names = [name for name, _, _ in TIMERS]
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=names).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0004_broadcast"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
