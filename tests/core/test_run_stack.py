"""`make run`'s launcher: web, the default and imports workers, beat and the simulator come up
together, every child but the web one relays its events to the web process, and Ctrl-C stops
every one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from apps.core.layers import RelayChannelLayer
from apps.core.management.commands.run_stack import worker_children
from apps.core.web import RELAY_PATH, AccessLog

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _descendants(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        child, parent = (int(x) for x in line.split())
        children.setdefault(parent, []).append(child)
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def _command_of(pid: int) -> str:
    """The process's full command line (`ps` cuts it at 80 columns when it has no terminal)."""
    try:
        return " ".join(
            Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        ).strip()
    except FileNotFoundError:
        return ""


def _relay_of(pid: int) -> str | None:
    """SWITCHBOARD_EVENT_RELAY in the process's environment, None when it has none."""
    for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        name, _, value = entry.decode(errors="replace").partition("=")
        if name == "SWITCHBOARD_EVENT_RELAY":
            return value
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_run_stack_serves_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SWITCHBOARD_EVENT_RELAY", "CELERY_BROKER_URL"}
    }
    env["SWITCHBOARD_VAR_DIR"] = str(tmp_path / "var")
    env["SECRET_KEY"] = settings.SECRET_KEY  # the stack checks the relay POST this test signs
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    port = _free_port()
    stack = subprocess.Popen(
        [sys.executable, "manage.py", "run_stack", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status = None
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2) as response:
                    status = response.status
                break
            except OSError:
                time.sleep(0.25)
        assert status == 200
        children = _descendants(stack.pid)
        commands = {pid: _command_of(pid) for pid in children}
        listing = "\n".join(f"{pid} {args}" for pid, args in sorted(commands.items()))
        relays = {}
        for name, marker in (
            ("web", "apps.core.web"),
            ("worker", " -Q celery "),
            ("imports", " -Q imports "),
            ("beat", " beat "),
            ("simulator", "simulate_traffic"),
        ):
            pids = [pid for pid, args in commands.items() if marker in f"{args} "]
            assert pids, f"no {name} among {listing}"
            relays[name] = {_relay_of(pid) for pid in pids}
            if name in ("worker", "imports", "beat"):  # quiet by default: at INFO they log every tick
                assert all("--loglevel=WARNING" in commands[pid] for pid in pids), listing
        relay = f"http://127.0.0.1:{port}{RELAY_PATH}"
        assert relays == {
            "web": {None},
            "worker": {relay},
            "imports": {relay},
            "beat": {relay},
            "simulator": {relay},
        }
        signed = RelayChannelLayer(relay_url=relay)  # as the worker, beat and simulator relay
        assert signed.relay("wallboard", {"type": "event", "payload": {"kind": "test"}})
        forged = urllib.request.Request(relay, data=b"{}", headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=5)  # noqa: S310 - a local http URL
        assert refused.value.code == 403

        stack.send_signal(signal.SIGINT)
        output, _ = stack.communicate(timeout=30)
    finally:
        if stack.poll() is None:
            stack.kill()
    assert stack.returncode == 0, output
    assert "Demo logins" in output
    # The web process's access log: pages and refused relay POSTs, never a relay POST that
    # went through (AccessLog, below).
    assert '"GET /login/" 200' in output, output
    assert '"POST /internal/events/" 403' in output, output
    assert '"POST /internal/events/" 204' not in output, output
    time.sleep(0.5)
    assert [pid for pid in children if _alive(pid)] == []


def test_the_web_access_log_leaves_out_the_relay_posts_that_went_through() -> None:
    stream = StringIO()
    log = AccessLog(stream)

    def request(method: str, path: str, status: int) -> None:
        details = {"client": "127.0.0.1:50000", "method": method, "path": path, "status": status, "size": 12}
        log("http", "complete", details)

    request("POST", RELAY_PATH, 204)
    request("POST", RELAY_PATH, 403)
    request("POST", RELAY_PATH, 500)
    request("GET", "/desk/", 200)
    request("POST", "/internal/events/other/", 204)
    log("websocket", "connected", {"client": "127.0.0.1:50001", "path": "/ws/agent/"})
    lines = stream.getvalue().splitlines()
    assert [line.split('"')[1:3] for line in lines] == [
        ["POST /internal/events/", " 403 12"],
        ["POST /internal/events/", " 500 12"],
        ["GET /desk/", " 200 12"],
        ["POST /internal/events/other/", " 204 12"],
        ["WSCONNECT /ws/agent/", " - -"],
    ]


def test_the_relay_path_is_the_event_relays_url() -> None:
    assert reverse("core:event-relay") == RELAY_PATH


def test_imports_have_their_own_worker_and_the_default_worker_never_takes_them() -> None:
    # Given run_stack's workers
    workers = worker_children("python", "WARNING", {"SWITCHBOARD_EVENT_RELAY": "http://x"})

    # Then one serves only the default queue and one only the imports queue, both relaying events
    queues = {w.name: w.argv[w.argv.index("-Q") + 1] for w in workers}
    assert queues == {"worker": "celery", "imports": "imports"}
    assert [w.argv[w.argv.index("-n") + 1] for w in workers] == ["worker@%h", "imports@%h"]
    assert all(w.essential and w.env == {"SWITCHBOARD_EVENT_RELAY": "http://x"} for w in workers)


def test_the_import_task_is_routed_to_the_imports_queue_and_the_timers_are_not() -> None:
    from config.celery import app

    # When Celery routes the tasks
    def queue_of(name: str) -> str:
        return str(app.amqp.router.route({}, name)["queue"].name)

    # Then only the import run goes to the imports queue
    assert queue_of("apps.customers.tasks.import_run") == "imports"
    assert queue_of("apps.customers.tasks.import_jobs_fail_stalled") == "celery"
    assert queue_of("apps.interactions.tasks.offers_expire_due") == "celery"


def test_the_embedded_broker_keeps_imports_in_their_own_queue(tmp_path: Path) -> None:
    from celery import Celery

    # Given a filesystem broker routed as the settings say (the embedded mode run_stack uses)
    folder = tmp_path / "queue"
    for name in ("queue", "processed", "control"):
        (tmp_path / name).mkdir()
    app = Celery("embedded-routing", broker="filesystem://", set_as_current=False)
    app.conf.update(
        broker_transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "processed_folder": str(tmp_path / "processed"),
            "control_folder": str(tmp_path / "control"),
        },
        task_default_queue=settings.CELERY_TASK_DEFAULT_QUEUE,
        task_routes=settings.CELERY_TASK_ROUTES,
    )

    # When an import and a timer are sent
    app.send_task("apps.customers.tasks.import_run", args=[1])
    app.send_task("apps.interactions.tasks.offers_expire_due")

    # Then each message file names its queue, which is all a `-Q celery` worker reads
    assert sorted(name.rsplit(".", 2)[1] for name in os.listdir(folder)) == ["celery", "imports"]
