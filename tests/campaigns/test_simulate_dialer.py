"""`manage.py simulate_dialer`: a virtual clock, no database; the same arguments print the same
figures, and no dial goes outside the calling window or to a do-not-call number."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.campaigns.simulator import VirtualConfig, dialer_simulate


def _run(*args: str) -> str:
    out = StringIO()
    call_command("simulate_dialer", *args, stdout=out)
    return out.getvalue()


def test_one_simulated_hour_prints_the_same_figures_for_a_seed() -> None:
    first = _run("--agents", "20", "--hours", "1", "--seed", "1", "--mode", "all")
    again = _run("--agents", "20", "--hours", "1", "--seed", "1", "--mode", "all")
    other = _run("--agents", "20", "--hours", "1", "--seed", "2", "--mode", "all")

    assert first == again
    assert first != other
    lines = first.splitlines()
    assert [line for line in lines if not line.startswith(" ")] == [
        "progressive: 20 agents, 1 h",
        "power: 20 agents, 1 h",
        "predictive: 20 agents, 1 h",
    ]
    assert lines.count("  dials outside the window  0") == 3
    assert lines.count("  dials to do-not-call      0") == 3


def test_progressive_never_abandons_and_the_compliance_check_refuses_leads() -> None:
    result = dialer_simulate(VirtualConfig(mode="progressive", hours=1, seed=1))

    assert (result.abandoned, result.dials_outside_window, result.dials_to_dnc) == (0, 0, 0)
    assert result.refused_window > 0 and result.refused_dnc > 0
    assert result.connected == result.answered


def test_power_and_predictive_abandon_no_call_that_waited_under_two_seconds() -> None:
    for mode in ("power", "predictive"):
        result = dialer_simulate(VirtualConfig(mode=mode, hours=1, seed=1))
        assert result.max_wait_seconds <= 2.0
        assert result.abandoned > 0 or mode == "power"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--start", "tomorrow"), "--start"),
        (("--start", "2026-03-02T16:00"), "UTC offset"),
        (("--agents", "0"), "positive"),
    ],
)
def test_bad_arguments_are_refused_with_a_message(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        _run("--hours", "0.01", "--mode", "progressive", *args)
