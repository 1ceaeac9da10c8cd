"""The dialer's pacing goal (make bench): 20 agents, 8 simulated hours, seed 1, exponential handle
times of mean 180 s. Predictive dialing keeps agents >= 90 % occupied with abandons <= 3 % of
answered calls and >= 1.15 x progressive's contacts per agent-hour. No database: a virtual clock."""

from __future__ import annotations

from apps.campaigns.management.commands.simulate_dialer import result_lines
from apps.campaigns.simulator import VirtualConfig, dialer_simulate


def test_predictive_pacing_meets_its_goal() -> None:
    results = {
        mode: dialer_simulate(VirtualConfig(mode=mode, agents=20, hours=8, seed=1))
        for mode in ("progressive", "power", "predictive")
    }
    for result in results.values():
        print("\n".join(result_lines(result)))
    progressive, predictive = results["progressive"], results["predictive"]
    ratio = predictive.contacts_per_agent_hour / progressive.contacts_per_agent_hour
    print(f"predictive / progressive contacts per agent-hour: {ratio:.3f}")

    assert predictive.occupancy >= 0.90
    assert predictive.abandon_rate <= 0.03
    assert ratio >= 1.15
    assert all(r.dials_outside_window == 0 and r.dials_to_dnc == 0 for r in results.values())
