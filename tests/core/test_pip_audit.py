"""`make lint`'s pip-audit step (.ci/pip_audit.py): a vulnerability fails it; a service that does
not answer is said out loud and does not."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def step() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pip_audit_step", ROOT / ".ci" / "pip_audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _report(*dependencies: dict[str, Any]) -> str:
    return json.dumps({"dependencies": list(dependencies), "fixes": []})


CLEAN = {"name": "django", "version": "5.2.19", "vulns": []}
VULNERABLE = {
    "name": "django",
    "version": "5.2.1",
    "vulns": [{"id": "PYSEC-2025-1", "fix_versions": ["5.2.2", "5.1.10"], "aliases": ["CVE-2025-1"]}],
}
NOT_FOUND = {
    "name": "amqp",
    "skip_reason": "Dependency not found on PyPI and could not be audited: amqp (5.4.2)",
}


def test_a_vulnerable_pin_fails_and_names_the_fix(step: ModuleType) -> None:
    verdict = step.judge("pypi", 1, _report(VULNERABLE, CLEAN), "")

    assert (verdict.status, verdict.audited) == (1, True)
    assert verdict.lines == ["VULNERABLE django==5.2.1: PYSEC-2025-1 (CVE-2025-1); fixed in 5.2.2, 5.1.10"]


def test_a_clean_lock_passes_and_lists_what_it_could_not_audit(step: ModuleType) -> None:
    verdict = step.judge("pypi", 0, _report(CLEAN, NOT_FOUND), "")

    assert (verdict.status, verdict.audited) == (0, True)
    assert verdict.lines == ["pypi: no known vulnerability in 1 locked packages", "  not audited (1): amqp"]


def test_a_service_that_answers_for_no_package_is_not_an_audit(step: ModuleType) -> None:
    # pip-audit itself prints "No known vulnerabilities found" and exits 0 here.
    verdict = step.judge("pypi", 0, _report(NOT_FOUND), "")

    assert (verdict.status, verdict.audited) == (0, False)


def test_an_unreachable_service_is_not_a_failure(step: ModuleType) -> None:
    error = "requests.exceptions.ConnectionError: ... Failed to resolve 'api.osv.dev'"

    verdict = step.judge("osv", 1, "", f"Traceback ...\n{error}\n")

    assert (verdict.status, verdict.audited) == (0, False)
    assert verdict.lines == [f"osv: not reachable from this machine ({error})"]


def test_pip_audit_failing_for_another_reason_fails(step: ModuleType) -> None:
    verdict = step.judge("pypi", 2, "", "ERROR: invalid requirement: 'django=='\n")

    assert verdict.status == 1
    assert verdict.lines == [
        "pip-audit (pypi) failed with exit status 2: ERROR: invalid requirement: 'django=='"
    ]


def test_when_no_service_answers_the_step_says_so_and_passes(
    step: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = {"pypi": (0, _report(NOT_FOUND), ""), "osv": (1, "", "ConnectionError: Max retries exceeded")}
    monkeypatch.setattr(step, "audit", lambda requirements, service: answers[service])

    status = step.main(["pip_audit.py", "constraints.txt"])

    assert status == 0
    assert capsys.readouterr().out.startswith(
        "PIP-AUDIT DID NOT AUDIT ANYTHING: no vulnerability service answered from this machine."
    )


def test_osv_is_asked_when_pypi_answers_nothing(
    step: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = {"pypi": (0, _report(NOT_FOUND), ""), "osv": (1, _report(VULNERABLE), "")}
    monkeypatch.setattr(step, "audit", lambda requirements, service: answers[service])

    status = step.main(["pip_audit.py", "constraints.txt"])

    assert status == 1
    assert "VULNERABLE django==5.2.1" in capsys.readouterr().out
