"""The marketers' landing page, the campaigns list: who opens it, and the import jobs it shows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.customers.models import ImportJob

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/campaigns/", {"Marketer", "Supervisor", "Admin"}),
    ],
)
def test_the_campaigns_landing_opens_only_for_its_roles(
    client_for: Callable[[str | None], Client], path: str, allowed: set[str]
) -> None:
    for role in ("Agent", "Supervisor", "Marketer", "Admin"):
        response = client_for(role).get(path)
        assert response.status_code == (200 if role in allowed else 403), (role, path)
    anonymous = client_for(None).get(path)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/?next=")


def test_the_campaigns_page_lists_a_marketers_own_import_jobs_and_all_of_them_to_a_supervisor(
    make_user: Callable[..., User], django_assert_max_num_queries: Any
) -> None:
    mine, theirs = make_user("Marketer"), make_user("Marketer")
    ImportJob.objects.create(created_by=mine, file="imports/a.csv", file_name="mine-list.csv")
    ImportJob.objects.create(created_by=theirs, file="imports/b.csv", file_name="their-list.csv")
    marketer, supervisor = Client(), Client()
    marketer.force_login(mine)
    supervisor.force_login(make_user("Supervisor"))

    with django_assert_max_num_queries(8):
        page = marketer.get("/campaigns/").content.decode()
    overview = supervisor.get("/campaigns/").content.decode()

    assert "mine-list.csv" in page
    assert "their-list.csv" not in page
    assert "mine-list.csv" in overview
    assert "their-list.csv" in overview
