from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/campaigns/", {"Marketer", "Supervisor", "Admin"}),
    ],
)
def test_workspaces_open_only_for_their_roles(
    client_for: Callable[[str | None], Client], path: str, allowed: set[str]
) -> None:
    for role in ("Agent", "Supervisor", "Marketer", "Admin"):
        response = client_for(role).get(path)
        assert response.status_code == (200 if role in allowed else 403), (role, path)
    anonymous = client_for(None).get(path)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/?next=")
