"""The Celery app. Settings come from Django's (CELERY_* names); tasks from each app's tasks.py."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Every task retries when the database pool had no connection for it (see the class).
app = Celery("switchboard", task_cls="apps.core.celery_tasks:RetryWhenDatabaseBusy")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
