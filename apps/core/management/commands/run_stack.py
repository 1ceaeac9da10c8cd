"""`manage.py run_stack`: web (daphne: HTTP + websockets), a Celery worker, a Celery worker for
the imports queue, beat and the traffic simulator (manage.py simulate_traffic, so the demo
wallboard lives), together.

`make run` ends here. Each process runs in its own session so that Ctrl-C reaches only this
supervisor, which then stops every child in order (TERM, then KILL after a grace period) and
never leaves a worker or beat behind. If the web, worker or beat dies, the others are stopped
too: a half-running stack would look alive while silently not doing scheduled work. The
simulator is demo traffic, not part of the product: its exit is reported and the stack goes on.

Embedded mode (no REDIS_URL): each process has its own in-memory channel layer, so every child
but the web one gets SWITCHBOARD_EVENT_RELAY, the web process's internal event endpoint, and
their events reach the websockets through it (apps.core.layers).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from apps.core.web import RELAY_PATH

GRACE_SECONDS = 10


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] | None = None  # None: this process's environment
    essential: bool = True  # when it exits, the whole stack stops
    process: subprocess.Popen[bytes] | None = None


class Command(BaseCommand):
    help = (
        "Start web (daphne), the Celery workers (default and imports queues), Celery beat and the "
        "traffic simulator; Ctrl-C stops them all."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-worker", action="store_true", help="Do not start the Celery workers.")
        parser.add_argument("--no-beat", action="store_true", help="Do not start Celery beat.")
        parser.add_argument(
            "--celery-log-level",
            default=os.environ.get("CELERY_LOG_LEVEL", "WARNING"),
            choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
            type=str.upper,
            help=(
                "Log level of the worker and beat (default WARNING, or CELERY_LOG_LEVEL): at INFO "
                "both log every tick, several lines a second."
            ),
        )
        parser.add_argument(
            "--no-simulator",
            action="store_true",
            help="Do not start the traffic simulator (simulate_traffic).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        python = sys.executable
        # Children other than web relay their events to it in embedded mode; web never does.
        relayed = dict(os.environ)
        relayed.pop("SWITCHBOARD_EVENT_RELAY", None)
        web_env = dict(relayed)
        if not settings.REDIS_URL:
            relayed["SWITCHBOARD_EVENT_RELAY"] = relay_url(options["host"], options["port"])
        children = [
            Child(
                "web",
                [
                    python,
                    "-m",
                    "apps.core.web",  # daphne, its access log without the relay's POSTs
                    "-b",
                    options["host"],
                    "-p",
                    str(options["port"]),
                    "config.asgi:application",
                ],
                env=web_env,
            ),
        ]
        if not options["no_worker"]:
            children += worker_children(python, options["celery_log_level"], relayed)
        if not options["no_beat"]:
            beat_schedule = os.path.join(str(settings.VAR_DIR), "celerybeat-schedule")
            children.append(
                Child(
                    "beat",
                    [
                        python,
                        "-m",
                        "celery",
                        "-A",
                        "config",
                        "beat",
                        f"--loglevel={options['celery_log_level']}",
                        "-s",
                        beat_schedule,
                    ],
                    env=relayed,
                )
            )
        if not options["no_simulator"]:
            manage = os.path.join(str(settings.BASE_DIR), "manage.py")
            children.append(
                Child("simulator", [python, manage, "simulate_traffic"], env=relayed, essential=False)
            )

        stopping = {"flag": False}

        def request_stop(signum: int, frame: object) -> None:
            stopping["flag"] = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)

        for child in children:
            child.process = subprocess.Popen(child.argv, start_new_session=True, env=child.env)
            self.stdout.write(f"started {child.name} (pid {child.process.pid})")
            if child.name == "web":
                # The others publish events to it from their first second: let it listen first.
                _wait_listening(options["host"], options["port"], child.process)
        self.stdout.write(
            self.style.SUCCESS(
                f"\nSwitchboard is running on http://{options['host']}:{options['port']}/  (Ctrl-C stops everything)"
            )
        )
        self.stdout.write(DEMO_LOGINS)

        exit_code = 0
        reported: set[str] = set()
        try:
            while not stopping["flag"]:
                for child in children:
                    assert child.process is not None
                    code = child.process.poll()
                    if code is not None and not child.essential:
                        if child.name not in reported:
                            self.stderr.write(
                                f"{child.name} exited with code {code}; the stack goes on without it"
                            )
                            reported.add(child.name)
                        continue
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
        # The simulator first, while web still takes its last events (its agents going offline).
        for child in children:
            if not child.essential and child.process and child.process.poll() is None:
                child.process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):  # then killed with the others
                    child.process.wait(timeout=GRACE_SECONDS / 2)
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


def worker_children(python: str, log_level: str, env: dict[str, str]) -> list[Child]:
    """The default worker (timers, routing, campaigns: the contact center's own work) and a
    worker for the imports queue alone, so a long or hostile import never takes a slot the
    timers need. Both read the same broker (Redis, or the filesystem folders in embedded mode,
    where each message file names its queue)."""

    def worker(name: str, queue: str, concurrency: int) -> Child:
        argv = [python, "-m", "celery", "-A", "config", "worker", f"--loglevel={log_level}"]
        argv += ["-Q", queue, f"--concurrency={concurrency}", "-n", f"{name}@%h"]
        return Child(name, argv, env=env)

    return [
        worker("worker", settings.CELERY_TASK_DEFAULT_QUEUE, 2),
        worker("imports", settings.IMPORT_QUEUE, 1),
    ]


def _wait_listening(host: str, port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until daphne accepts connections, it exits, or the timeout passes (then go on anyway)."""
    address = urlparse(relay_url(host, port)).hostname or "127.0.0.1"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)


def relay_url(host: str, port: int) -> str:
    """The web process's event endpoint as the other children reach it: over loopback when
    daphne listens on every interface."""
    if host in {"", "0.0.0.0"}:  # noqa: S104 - a bind address read, not one we bind to
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}{RELAY_PATH}"


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
