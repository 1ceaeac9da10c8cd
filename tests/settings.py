"""The test suite's settings (pyproject's DJANGO_SETTINGS_MODULE): config.settings as a developer
run on this machine sees them.

DEBUG defaults to off, and off the settings want a SECRET_KEY and turn on the HTTPS redirect,
secure-only cookies and the manifest static storage (collectstatic first), none of which a test
client on http://testserver, a browser on the live server or a daphne a test starts can work with.
So the suite, like `make run`, sets DEBUG=true in the environment before the settings are read,
unless the environment already says; the processes tests start (daphne, run_stack, manage.py)
inherit it. Django's test runner still turns settings.DEBUG itself off while tests run, and
tests/core/test_settings.py checks the production values (`check --deploy` under them).
"""

from __future__ import annotations

import os

os.environ.setdefault("DEBUG", "true")

from config.settings import *  # noqa: E402, F403

# Tasks the suite queues on the embedded broker (an import's .delay() after commit) go to a
# folder of this run's own, never into the developer's .var/broker, where `make run`'s worker
# would later pick them up for rows that no longer exist.
if CELERY_BROKER_URL == "filesystem://":  # noqa: F405
    import tempfile
    from pathlib import Path

    _test_broker = Path(tempfile.mkdtemp(prefix="switchboard-test-broker-"))
    for _folder in ("queue", "processed", "control"):
        (_test_broker / _folder).mkdir()
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_test_broker / "queue"),
        "data_folder_out": str(_test_broker / "queue"),
        "processed_folder": str(_test_broker / "processed"),
        "control_folder": str(_test_broker / "control"),
        "store_processed": False,
    }
