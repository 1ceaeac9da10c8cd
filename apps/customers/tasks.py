"""Celery tasks of the customers app: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task

from apps.customers.services.imports import import_job_run


@shared_task(acks_late=True, time_limit=2 * 60 * 60, soft_time_limit=2 * 60 * 60 - 60)
def import_run(job_id: int) -> str:
    """Run an import job. Idempotent: a redelivered task finds the job no longer pending."""
    job = import_job_run(job_id=job_id)
    return job.status
