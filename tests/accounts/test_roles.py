from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.accounts.roles import Role, primary_role, roles_of
from apps.accounts.services import role_permissions_sync

pytestmark = pytest.mark.django_db


def test_migrations_create_the_four_role_groups() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= {"Agent", "Supervisor", "Marketer", "Admin"}


def test_each_role_gets_its_declared_permissions() -> None:
    role_permissions_sync()

    agent = set(Group.objects.get(name="Agent").permissions.values_list("codename", flat=True))
    supervisor = set(Group.objects.get(name="Supervisor").permissions.values_list("codename", flat=True))
    marketer = set(Group.objects.get(name="Marketer").permissions.values_list("codename", flat=True))
    admin = Group.objects.get(name="Admin").permissions.count()

    assert {"view_customer", "add_note", "change_customer"} <= agent
    assert "merge_customer" not in agent and "erase_customer" not in agent
    assert {"merge_customer", "erase_customer", "export_customer"} <= supervisor
    assert {"import_customers", "export_customer"} <= marketer
    assert "change_customer" not in marketer
    assert admin > len(supervisor)


def test_admin_role_makes_staff_and_others_do_not(make_user: Callable[..., User]) -> None:
    assert make_user("Admin").is_staff is True
    assert make_user("Agent").is_staff is False


def test_primary_role_prefers_the_most_privileged(make_user: Callable[..., User]) -> None:
    user = make_user("Agent")
    user.groups.add(Group.objects.get(name="Supervisor"))
    user = User.objects.get(pk=user.pk)

    assert roles_of(user) == {Role.AGENT, Role.SUPERVISOR}
    assert primary_role(user) is Role.SUPERVISOR


@pytest.mark.parametrize(
    ("role", "landing"),
    [
        ("Agent", "/desk/"),
        ("Supervisor", "/wallboard/"),
        ("Marketer", "/campaigns/"),
        ("Admin", "/admin/"),
    ],
)
def test_login_lands_each_role_on_its_home(make_user: Callable[..., User], role: str, landing: str) -> None:
    make_user(role, username=f"u-{role}", password="Secret-pass-123")
    client = Client()

    response = client.post(
        reverse("accounts:login"), {"username": f"u-{role}", "password": "Secret-pass-123"}, follow=True
    )

    assert response.redirect_chain[-1][0] == landing
    assert response.status_code == 200


def test_wrong_password_shows_an_error_and_stays_anonymous(make_user: Callable[..., User]) -> None:
    make_user("Agent", username="ann", password="Secret-pass-123")
    client = Client()

    response = client.post(reverse("accounts:login"), {"username": "ann", "password": "nope"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_user_without_role_is_told_so(make_user: Callable[..., User]) -> None:
    client = Client()
    client.force_login(make_user(None))

    response = client.get(reverse("accounts:home"))

    assert response.status_code == 403
    assert "no role yet" in response.content.decode()


def test_logout_needs_post_and_ends_the_session(agent_client: Client) -> None:
    response = agent_client.post(reverse("accounts:logout"))

    assert response.status_code == 302
    assert "_auth_user_id" not in agent_client.session


def test_anonymous_home_redirects_to_login() -> None:
    response = Client().get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
