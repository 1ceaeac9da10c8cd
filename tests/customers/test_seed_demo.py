from __future__ import annotations

from io import StringIO

import phonenumbers
import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from apps.accounts.models import User
from apps.accounts.roles import Role, roles_of
from apps.customers.duplicates import duplicate_pairs
from apps.customers.management.commands.seed_demo import CUSTOMER_COUNT, DUPLICATES, build_specs
from apps.customers.models import ContactPoint, Customer, Note, Organization, Tag

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _counts() -> dict[str, int]:
    return {
        "customers": Customer.objects.count(),
        "contact_points": ContactPoint.objects.count(),
        "notes": Note.objects.count(),
        "organizations": Organization.objects.count(),
        "tags": Tag.objects.count(),
        "users": User.objects.count(),
        "dnc": ContactPoint.objects.filter(do_not_call=True).count(),
    }


def test_seed_demo_is_idempotent_and_realistic() -> None:
    out = StringIO()

    call_command("seed_demo", stdout=out)
    first = _counts()
    call_command("seed_demo", stdout=StringIO())

    assert _counts() == first
    assert first["customers"] == CUSTOMER_COUNT + len(DUPLICATES)
    assert first["organizations"] >= 25
    assert first["dnc"] > 0
    assert first["notes"] > 50
    phones = list(ContactPoint.objects.filter(kind="phone").values_list("value", flat=True))
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(p)) for p in phones)
    regions = {phonenumbers.region_code_for_number(phonenumbers.parse(p)) for p in phones}
    assert {"US", "GB", "DE", "FR", "ES", "BR", "IN", "AU", "JP", "MX"} <= regions
    zones = set(Customer.objects.exclude(time_zone="").values_list("time_zone", flat=True))
    assert len(zones) >= 10
    assert not Customer.objects.filter(time_zone="", contact_points__kind="phone").exists()
    assert (
        ContactPoint.objects.exclude(do_not_call_source="").filter(do_not_call=True).count() == first["dnc"]
    )
    assert not Customer.objects.filter(search_text="").exists()
    assert "agent / agent" in out.getvalue() and "admin / admin" in out.getvalue()


def test_demo_users_log_in_with_their_roles() -> None:
    call_command("seed_demo", stdout=StringIO())

    for username, role in (
        ("agent", Role.AGENT),
        ("supervisor", Role.SUPERVISOR),
        ("marketer", Role.MARKETER),
        ("admin", Role.ADMIN),
    ):
        # With a request, as every sign-in has one: the throttling backend (axes) refuses one without.
        user = authenticate(RequestFactory().post("/login/"), username=username, password=username)
        assert user is not None
        assert role in roles_of(user)
    assert User.objects.get(username="admin").is_staff is True


def test_specs_are_deterministic() -> None:
    assert build_specs() == build_specs()


def test_demo_contains_duplicate_pairs() -> None:
    call_command("seed_demo", stdout=StringIO())

    pairs = {(p.first.external_id, p.second.external_id) for p in duplicate_pairs()}

    assert {("demo-dup-2a", "demo-dup-2b"), ("demo-dup-3a", "demo-dup-3b")} <= pairs


def test_seed_demo_sets_up_the_contact_center_once() -> None:
    from apps.interactions.models import (
        AgentProfile,
        AgentSkill,
        Disposition,
        DispositionSet,
        NotReadyReason,
        Queue,
        QueueSkill,
    )

    def counts() -> dict[str, int]:
        return {
            model.__name__: model.objects.count()
            for model in (
                AgentProfile,
                AgentSkill,
                Disposition,
                DispositionSet,
                NotReadyReason,
                Queue,
                QueueSkill,
            )
        }

    call_command("seed_demo", stdout=StringIO())
    first = counts()
    call_command("seed_demo", stdout=StringIO())

    assert counts() == first
    assert {q.name: sorted(q.channels) for q in Queue.objects.all()} == {
        "Billing": ["email", "sms"],
        "Sales": ["chat", "voice"],
        "Support": ["chat", "email", "voice"],
    }
    for queue in Queue.objects.all():
        assert queue.disposition_set is not None and queue.disposition_set.dispositions.exists()
        assert queue.required_skills.count() == 1
    assert set(NotReadyReason.objects.values_list("code", flat=True)) >= {
        "break",
        "lunch",
        "training",
        "meeting",
    }
    # The human demo agent receives work from every queue once available; the simulated agents
    # exist for simulate_traffic, each in the queues its skills serve.
    agent = AgentProfile.objects.get(user__username="agent")
    assert set(agent.queues.values_list("name", flat=True)) == {"Billing", "Sales", "Support"}
    assert set(agent.skills.values_list("skill__name", flat=True)) == {"billing", "sales", "support"}
    assert agent.capacities.filter(channel="voice", capacity=1).exists()
    simulated = AgentProfile.objects.filter(user__username__startswith="sim-agent-")
    assert simulated.count() == 6
    for profile in simulated:
        skills = set(profile.skills.values_list("skill__name", flat=True))
        assert len(skills) == 2
        assert set(profile.queues.values_list("required_skills__skill__name", flat=True)) == skills
