"""`manage.py run_stack`: web (daphne: HTTP + websockets), a Celery worker and beat, together.

`make run` ends here. Each process runs in its own session so that Ctrl-C reaches only this
supervisor, which then stops every child in order (TERM, then KILL after a grace period) and
never leaves a worker or beat behind. If any child dies, the others are stopped too: a
half-running stack would look alive while silently not doing scheduled work.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

GRACE_SECONDS = 10


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None


class Command(BaseCommand):
    help = "Start web (daphne), Celery worker and Celery beat; Ctrl-C stops them all."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-worker", action="store_true", help="Do not start the Celery worker.")
        parser.add_argument("--no-beat", action="store_true", help="Do not start Celery beat.")

    def handle(self, *args: Any, **options: Any) -> None:
        python = sys.executable
        children = [
            Child(
                "web",
                [
                    python,
                    "-m",
                    "daphne",
                    "-b",
                    options["host"],
                    "-p",
                    str(options["port"]),
                    "config.asgi:application",
                ],
            ),
        ]
        if not options["no_worker"]:
            children.append(
                Child(
                    "worker",
                    [
                        python,
                        "-m",
                        "celery",
                        "-A",
                        "config",
                        "worker",
                        "--loglevel=INFO",
                        "--concurrency=2",
                        "-n",
                        "worker@%h",
                    ],
                )
            )
        if not options["no_beat"]:
            beat_schedule = os.path.join(str(settings.VAR_DIR), "celerybeat-schedule")
            children.append(
                Child(
                    "beat",
                    [python, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO", "-s", beat_schedule],
                )
            )

        stopping = {"flag": False}

        def request_stop(signum: int, frame: object) -> None:
            stopping["flag"] = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)

        for child in children:
            child.process = subprocess.Popen(child.argv, start_new_session=True)
            self.stdout.write(f"started {child.name} (pid {child.process.pid})")
        self.stdout.write(
            self.style.SUCCESS(
                f"\nSwitchboard is running on http://{options['host']}:{options['port']}/  (Ctrl-C stops everything)"
            )
        )
        self.stdout.write(DEMO_LOGINS)

        exit_code = 0
        try:
            while not stopping["flag"]:
                for child in children:
                    assert child.process is not None
                    code = child.process.poll()
                    if code is not None:
                        self.stderr.write(f"{child.name} exited with code {code}; stopping the stack")
                        exit_code = code or 1
                        stopping["flag"] = True
                        break
                time.sleep(0.3)
        finally:
            self._stop(children)
        if exit_code:
            sys.exit(exit_code)

    def _stop(self, children: list[Child]) -> None:
        self.stdout.write("stopping...")
        for child in reversed(children):
            if child.process and child.process.poll() is None:
                # TERM to the leader only: Celery's main process stops its own pool children
                # cleanly; the whole group is killed only if the grace period runs out.
                child.process.terminate()
        deadline = time.monotonic() + GRACE_SECONDS
        for child in children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(child.process, signal.SIGKILL)
                child.process.wait()
            self.stdout.write(f"stopped {child.name}")


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return


DEMO_LOGINS = """
Demo logins (from manage.py seed_demo):
  agent / agent            -> agent desk
  supervisor / supervisor  -> wallboard
  marketer / marketer      -> campaigns
  admin / admin            -> Django admin
"""
