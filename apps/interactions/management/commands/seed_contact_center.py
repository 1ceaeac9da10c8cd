"""`manage.py seed_contact_center`: the demo contact center (queues, skills, dispositions,
not-ready reasons, agent profiles of the demo agents and the simulated agents). `seed_demo` runs
it; safe to run again (see apps.interactions.management.demo)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.interactions.management.demo import SIM_AGENT_COUNT, contact_center_seed


class Command(BaseCommand):
    help = "Create the demo queues, skills, dispositions, not-ready reasons and agents. Safe to run again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--sim-agents", type=int, default=SIM_AGENT_COUNT, help="Simulated agents sim-agent-NN to create."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        created = contact_center_seed(sim_agents=options["sim_agents"])
        summary = ", ".join(f"{count} {kind}" for kind, count in created.items())
        self.stdout.write(self.style.SUCCESS(f"Contact center ready: created {summary}."))
