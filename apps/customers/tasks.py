"""Celery tasks of the customers app: thin wrappers over services."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.core.actors import SystemActor
from apps.customers.models import ImportJob
from apps.customers.services.imports import import_job_run, import_jobs_fail_stalled

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, time_limit=2 * 60 * 60, soft_time_limit=2 * 60 * 60 - 60)
def import_run(job_id: int) -> str:
    """Run an import job (routed to the imports queue, CELERY_TASK_ROUTES). Idempotent: a
    redelivered task (acks_late, or its worker died) finds the job no longer pending and does
    nothing; a job left running by a dead worker is failed by import_jobs_fail_stalled. A job
    that no longer exists (deleted before its task ran) is logged and skipped."""
    try:
        job = import_job_run(job_id=job_id)
    except ImportJob.DoesNotExist:
        logger.warning("import job %s no longer exists: nothing to run", job_id)
        return "missing"
    return job.status


@shared_task(name="apps.customers.tasks.import_jobs_fail_stalled", time_limit=60, soft_time_limit=50)
def import_jobs_fail_stalled_task() -> int:
    """Beat, every minute (migration customers import_watchdog): fail imports whose worker stopped reporting."""
    return len(import_jobs_fail_stalled(actor=SystemActor("import watchdog")))
