"""Printed by `make test` before the suite: which database, channel layer and broker it uses."""

from __future__ import annotations

import os
from urllib.parse import urlparse


def _safe(url: str) -> str:
    parsed = urlparse(url)
    host = parsed.hostname or ""
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{host}{port}{parsed.path}"


def main() -> None:
    database = os.environ.get("DATABASE_URL")
    redis = os.environ.get("REDIS_URL")
    print("test environment:")
    print(f"  database:      {_safe(database) if database else 'SQLite (embedded default)'}")
    print(f"  channel layer: {'Redis ' + _safe(redis) if redis else 'in-memory (embedded default)'}")
    print(f"  celery broker: {'Redis' if redis else 'filesystem (embedded default)'}")
    print(f"  CI:            {os.environ.get('CI', 'false')}")


if __name__ == "__main__":
    main()
