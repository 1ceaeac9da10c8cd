"""Beat's schedule for the contact center's timers: offer timeouts a lost task missed, agents
whose browser went silent, wrap-ups past their timer, and overflow after a queue's max wait. Every 5 seconds; both tasks are idempotent."""

from django.db import migrations

TASKS = {
    "contact center: expire due offers": "apps.interactions.tasks.offers_expire_due",
    "contact center: agent presence timeout": "apps.interactions.tasks.agents_presence_timeout",
    "contact center: close expired wrap-ups": "apps.interactions.tasks.wrap_ups_expire_due",
    "contact center: queue overflow": "apps.interactions.tasks.queues_overflow_due",
}


def forwards(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    every_5s, _ = interval_model.objects.get_or_create(every=5, period="seconds")
    for name, task in TASKS.items():
        task_model.objects.update_or_create(name=name, defaults={"task": task, "interval": every_5s, "enabled": True})


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=TASKS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("interactions", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
