"""`manage.py simulate_dialer`: a campaign's dialer on a virtual clock, no database, in seconds.

    manage.py simulate_dialer --agents 20 --hours 8 --seed 1 --mode all

Each simulated second (--tick) the dial mode's pacing decides how many calls to place: the
live tick's own (apps.campaigns.dialer.pacing; predictive: the abandon-rate controller of
apps.campaigns.dialer.predictive, its state kept in the run instead of the cache).
Calls go as the benchmark's odds say: 30 % live answers after 4-12 s of ringing, 55 % no answer
given up after 25 s, 10 % busy after 3 s, 5 % invalid numbers failing after 2 s. A connected
call holds its agent for a handle time (talk plus wrap-up) drawn from an exponential of mean
--handle-seconds (--handle fixed: exactly that). Progressive calls reserve their agent while
they ring; power and predictive calls have none, and an answered call that no agent takes within
two seconds is abandoned. Leads come from an endless simulated list in six US time zones, 5 % of
them on a do-not-call list; every dial first passes a pure compliance check (08:00-21:00 local,
do-not-call), so the audit line counts 0 dials outside the window or to do-not-call by
construction, next to the leads the check refused.

Prints per mode: agent occupancy ((talk + wrap-up) / logged-in time), contacts per agent-hour,
abandon rate (abandoned / answered), dials. The same arguments print the same figures.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.campaigns.simulator import (
    DEFAULT_START,
    VIRTUAL_MODES,
    VirtualConfig,
    VirtualResult,
    dialer_simulate,
)


def result_lines(result: VirtualResult) -> list[str]:
    return [
        f"{result.mode}: {result.agents} agents, {result.hours:g} h",
        f"  occupancy                 {result.occupancy:.3f}",
        f"  contacts per agent-hour   {result.contacts_per_agent_hour:.2f}",
        f"  abandon rate              {result.abandon_rate:.2%} ({result.abandoned} of {result.answered} answered)",
        f"  dials                     {result.dials}",
        f"  refused by the check      {result.refused_window} outside 08:00-21:00 local, "
        f"{result.refused_dnc} do-not-call",
        f"  dials outside the window  {result.dials_outside_window}",
        f"  dials to do-not-call      {result.dials_to_dnc}",
    ]


class Command(BaseCommand):
    help = (
        "Simulate the dialer's pacing on a virtual clock and print occupancy, contacts and abandons per mode."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--agents", type=int, default=20)
        parser.add_argument("--hours", type=float, default=8.0)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--mode", choices=[*VIRTUAL_MODES, "all"], default="all")
        parser.add_argument("--tick", type=float, default=1.0, help="Seconds between pacing decisions")
        parser.add_argument("--handle-seconds", type=float, default=180.0, help="Mean talk plus wrap-up")
        parser.add_argument("--handle", choices=["exponential", "fixed"], default="exponential")
        parser.add_argument("--lines-per-agent", type=float, default=2.0, help="Power mode")
        parser.add_argument("--max-abandon-percent", type=float, default=3.0)
        parser.add_argument(
            "--start",
            default=DEFAULT_START.isoformat(),
            help="When the simulated shift starts (ISO 8601 with its offset)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            start = dt.datetime.fromisoformat(options["start"])
        except ValueError as exc:
            raise CommandError(f"--start: {options['start']!r} is not an ISO 8601 date and time.") from exc
        if start.tzinfo is None:
            raise CommandError("--start needs its UTC offset, e.g. 2026-03-02T16:00+00:00.")
        modes = list(VIRTUAL_MODES) if options["mode"] == "all" else [options["mode"]]
        for mode in modes:
            try:
                config = VirtualConfig(
                    mode=mode,
                    agents=options["agents"],
                    hours=options["hours"],
                    seed=options["seed"],
                    handle_seconds=options["handle_seconds"],
                    handle=options["handle"],
                    tick_seconds=options["tick"],
                    lines_per_agent=options["lines_per_agent"],
                    max_abandon_rate=options["max_abandon_percent"] / 100,
                    start=start,
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            for line in result_lines(dialer_simulate(config)):
                self.stdout.write(line)
