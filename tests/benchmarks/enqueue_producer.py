"""Benchmark (b)'s producer: a process of its own that enqueues an interaction on every line it
reads, as a web or Celery worker would, so the websocket client that times the offer does not
share an interpreter (and its GIL) with the server-side work it measures. It answers
{"pk", "seconds", "called_at"}: the service call's own duration, and time.perf_counter() when it
was called (CLOCK_MONOTONIC, one clock for every process of the machine).

Usage: python enqueue_producer.py <queue id>, with DATABASE_URL and REDIS_URL naming the
benchmark's database and Redis. An empty line ends it, after the publisher has sent everything."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings

    from apps.core.actors import SYSTEM
    from apps.interactions import events, services
    from apps.interactions.models import Queue

    settings.DEBUG = False  # as pytest-django runs the tests: no query log, production's cursors
    queue = Queue.objects.get(pk=int(sys.argv[1]))
    print("ready", flush=True)
    for line in sys.stdin:
        if not line.strip():
            break
        start = time.perf_counter()
        pk = services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat").pk
        seconds = time.perf_counter() - start
        print(json.dumps({"pk": pk, "seconds": seconds, "called_at": start}), flush=True)
    events.flush()


if __name__ == "__main__":
    main()
