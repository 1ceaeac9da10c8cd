"""Known vulnerabilities in the locked dependencies (`make lint`): pip-audit over constraints.txt.

    python .ci/pip_audit.py constraints.txt

Fails (exit 1) when a pinned version has a known vulnerability, naming it and the versions that
fix it. When no vulnerability service answers, it says so in capitals and passes: a machine
without internet (or behind a proxy that serves package downloads but not PyPI's vulnerability
data, where pip-audit itself reports every package as "not found" and then "No known
vulnerabilities found") has audited nothing, and that is neither a finding nor a pass to trust.

PyPI's JSON API is asked first, OSV when PyPI answered for no package. constraints.txt pins every
package exactly, so pip-audit reads it as it is (--no-deps) without building an environment.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

SERVICES = ("pypi", "osv")
# How a failed connection shows in pip-audit's error output (requests' and pip-audit's own words).
OFFLINE_SIGNS = (
    "ConnectionError",
    "NameResolutionError",
    "Max retries exceeded",
    "Failed to resolve",
    "Could not connect",
    "timed out",
    "Temporary failure in name resolution",
)


@dataclass
class Verdict:
    status: int  # the exit status: 1 only for a vulnerability or pip-audit failing on its own
    lines: list[str] = field(default_factory=list)
    audited: bool = True  # False: no service answered for any package


def audit(requirements: str, service: str) -> tuple[int, str, str]:
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--requirement",
        requirements,
        "--no-deps",
        "--disable-pip",
        "--vulnerability-service",
        service,
        "--format",
        "json",
        "--progress-spinner",
        "off",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)  # noqa: S603
    return done.returncode, done.stdout, done.stderr


def judge(service: str, returncode: int, stdout: str, stderr: str) -> Verdict:
    """What one pip-audit run means."""
    try:
        report: dict[str, Any] | None = json.loads(stdout)
    except ValueError:
        report = None
    if not isinstance(report, dict) or "dependencies" not in report:
        last = (stderr.strip().splitlines() or ["(no output)"])[-1]
        if any(sign in stderr for sign in OFFLINE_SIGNS):
            return Verdict(0, [f"{service}: not reachable from this machine ({last})"], audited=False)
        return Verdict(1, [f"pip-audit ({service}) failed with exit status {returncode}: {last}"])

    dependencies = report["dependencies"]
    skipped = [d for d in dependencies if "skip_reason" in d]
    audited = [d for d in dependencies if "skip_reason" not in d]
    if not audited:
        first = skipped[0]["skip_reason"] if skipped else "no package in the file"
        return Verdict(
            0, [f"{service}: answered for none of the {len(skipped)} packages ({first})"], audited=False
        )

    lines = []
    for dependency in audited:
        for vulnerability in dependency.get("vulns", []):
            fixed = ", ".join(vulnerability.get("fix_versions") or []) or "no fixed version yet"
            aliases = ", ".join(vulnerability.get("aliases") or [])
            lines.append(
                f"VULNERABLE {dependency['name']}=={dependency['version']}: {vulnerability['id']}"
                + (f" ({aliases})" if aliases else "")
                + f"; fixed in {fixed}"
            )
    if lines:
        return Verdict(1, lines)
    lines.append(f"{service}: no known vulnerability in {len(audited)} locked packages")
    if skipped:
        lines.append(f"  not audited ({len(skipped)}): " + ", ".join(d["name"] for d in skipped))
    return Verdict(0, lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python .ci/pip_audit.py constraints.txt", file=sys.stderr)
        return 2
    tried: list[str] = []
    for service in SERVICES:
        verdict = judge(service, *audit(argv[1], service))
        if verdict.audited:
            print("\n".join(verdict.lines))
            return verdict.status
        if verdict.status:  # pip-audit failed for another reason than the network
            print("\n".join(verdict.lines), file=sys.stderr)
            return verdict.status
        tried.extend(verdict.lines)
    print(
        "PIP-AUDIT DID NOT AUDIT ANYTHING: no vulnerability service answered from this machine.\n"
        + "\n".join(f"  {line}" for line in tried)
        + "\nNot counted as a failure (no network is not a vulnerability); run `make lint` where "
        "PyPI's JSON API or api.osv.dev is reachable to check the lock."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
