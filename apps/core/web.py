"""The web process of `manage.py run_stack` (`make run`): daphne, with an access log that leaves
out the embedded mode's event relay.

In embedded mode (no REDIS_URL) every event of the worker, beat and simulator reaches the
websockets as a POST to the web process's RELAY_PATH (apps.core.layers), several a second while
the demo traffic runs. daphne's access log would print each of them and bury the lines of the
pages and websockets among them. A relay POST that succeeds is left out; one that fails (a
forged signature, an error) is logged like any other request.

Usage: python -m apps.core.web <daphne's arguments>.
"""

from __future__ import annotations

from typing import Any

from daphne import cli
from daphne.access import AccessLogGenerator

RELAY_PATH = "/internal/events/"  # apps.core.urls' event-relay, under config.urls' internal/


class AccessLog(AccessLogGenerator):
    """daphne's access log without the relay POSTs that succeeded."""

    def __call__(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        if (
            protocol == "http"
            and details.get("path") == RELAY_PATH
            and isinstance(details.get("status"), int)
            and details["status"] < 400
        ):
            return
        super().__call__(protocol, action, details)


def main() -> None:
    cli.AccessLogGenerator = AccessLog  # what daphne's command line builds its access log with
    cli.CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
