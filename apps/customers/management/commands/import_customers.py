"""manage.py import_customers FILE [--region US] [--map field=Header ...] [--user NAME]
[--errors-out PATH]: run an import synchronously and print its summary."""

from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import User
from apps.core.actors import SystemActor
from apps.core.exceptions import NotAllowed
from apps.customers.models import ImportJob
from apps.customers.services.imports import import_errors_csv, import_job_create, import_job_run

# Without --user the command imports as the system (audited under this name).
IMPORT_COMMAND = SystemActor("import_customers command")


class Command(BaseCommand):
    help = "Import customers from a CSV or XLSX file, synchronously, and print the summary."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path to a .csv or .xlsx file (first row: column names).")
        parser.add_argument(
            "--region", default=None, help="Region for phones without +country code (e.g. US)."
        )
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="FIELD=HEADER",
            help="Map a column to a field (repeat); without it the headers are matched automatically.",
        )
        parser.add_argument(
            "--user", default=None, help="Username recorded as the importer (needs the role)."
        )
        parser.add_argument("--errors-out", default=None, help="Write the error report CSV to this path.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        if not os.path.isfile(path):
            raise CommandError(f"{path} is not a file.")
        mapping = None
        if options["map"]:
            mapping = {}
            for item in options["map"]:
                field, sep, header = item.partition("=")
                if not sep or not field.strip():
                    raise CommandError(f"--map {item!r}: use field=Header.")
                mapping[field.strip()] = header.strip()
        actor: User | SystemActor = IMPORT_COMMAND
        if options["user"]:
            user = User.objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user {options['user']!r}.")
            actor = user
        extra = {"default_region": options["region"]} if options["region"] else {}
        try:
            with open(path, "rb") as handle:
                job = import_job_create(
                    actor=actor,
                    uploaded_file=File(handle, name=os.path.basename(path)),
                    file_name=os.path.basename(path),
                    mapping=mapping,
                    source="command",
                    schedule=False,
                    **extra,
                )
        except (ValidationError, NotAllowed) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            raise CommandError(" ".join(messages)) from exc
        job = self._run_with_progress(job.pk)
        self.stdout.write(
            f"\nImport #{job.pk} {job.get_status_display().lower()}: {job.total_rows} rows, "
            f"{job.created_count} created, {job.updated_count} updated, {job.unchanged_count} unchanged, "
            f"{job.rejected_count} rejected."
        )
        if job.error_message:
            self.stderr.write(job.error_message)
        if job.rejected_count:
            if options["errors_out"]:
                with open(options["errors_out"], "w", newline="", encoding="utf-8") as out:
                    import_errors_csv(job=job, stream=out)
                self.stdout.write(f"Error report written to {options['errors_out']}.")
            else:
                self.stdout.write(
                    f"Error report: the import page of job #{job.pk}, or run again with --errors-out PATH."
                )
        if job.status != "done":
            raise CommandError(f"Import #{job.pk} failed.")

    def _run_with_progress(self, job_id: int) -> ImportJob:
        def progress(processed: int, total: int) -> None:
            self.stdout.write(f"\r{processed} / ~{total} rows", ending="")
            self.stdout.flush()

        return import_job_run(job_id=job_id, on_progress=progress)
