#!/usr/bin/env python
"""Django's command-line utility."""

import os
import sys

# Commands that only read the code, never serve or sign anything: they run with the developer
# defaults (DEBUG on, the dev-only secret) unless the environment says otherwise, so that
# `manage.py makemigrations --check` works on a bare checkout as `make lint` runs it.
CODE_ONLY_COMMANDS = frozenset({"makemigrations"})


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if sys.argv[1:2] and sys.argv[1] in CODE_ONLY_COMMANDS:
        os.environ.setdefault("DEBUG", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
