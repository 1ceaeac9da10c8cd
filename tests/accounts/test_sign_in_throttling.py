"""Sign-in throttling (django-axes) on the login page and the admin's: a lockout after repeated
failures for one username from one address, a 429 page that says when to try again, the wait
ending by itself, and a successful sign-in clearing the count."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from axes.models import AccessAttempt
from django.test import AsyncClient, Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "Secret-pass-123"
LOCKED = "Too many failed sign-ins for this username from your address. Try again in 15 minutes"


@pytest.fixture(autouse=True)
def _throttling(settings: Any) -> None:
    # The values this file's counts rely on, whatever the environment chose.
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


@pytest.fixture
def ann(make_user: Callable[..., User]) -> User:
    return make_user("Agent", username="ann", password=PASSWORD)


def _sign_in(client: Client, password: str, username: str = "ann", **extra: str) -> Any:
    return client.post(reverse("accounts:login"), {"username": username, "password": password}, **extra)


def test_the_third_failure_locks_the_sign_in_with_a_page_saying_when_to_try_again(ann: User) -> None:
    client = Client()

    first, second = _sign_in(client, "wrong-1"), _sign_in(client, "wrong-2")
    third = _sign_in(client, "wrong-3")

    assert (first.status_code, second.status_code) == (200, 200)
    assert third.status_code == 429
    assert third["Retry-After"] == "900"
    page = third.content.decode()
    assert "Sign-in locked for now" in page
    assert LOCKED in page
    assert "_auth_user_id" not in client.session


def test_while_locked_out_even_the_right_password_is_refused(ann: User) -> None:
    client = Client()
    for attempt in range(3):
        _sign_in(client, f"wrong-{attempt}")

    response = _sign_in(client, PASSWORD)

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lockout_ends_after_the_cool_off(ann: User) -> None:
    client = Client()
    for attempt in range(3):
        _sign_in(client, f"wrong-{attempt}")
    # Sixteen minutes later, as far as the counted attempts are concerned.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))

    response = _sign_in(client, PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(ann.pk)


def test_a_successful_sign_in_clears_the_failures(ann: User) -> None:
    client = Client()
    _sign_in(client, "wrong-1")
    _sign_in(client, "wrong-2")
    assert _sign_in(client, PASSWORD).status_code == 302
    client.post(reverse("accounts:logout"))

    again = [_sign_in(client, "wrong-3").status_code, _sign_in(client, "wrong-4").status_code]

    assert again == [200, 200]  # two failures since the success, not four
    assert AccessAttempt.objects.get().failures_since_start == 2


def test_the_count_is_per_username_and_address(ann: User, make_user: Callable[..., User]) -> None:
    make_user("Agent", username="bob", password=PASSWORD)
    office = Client(REMOTE_ADDR="203.0.113.7")
    for attempt in range(3):
        _sign_in(office, f"wrong-{attempt}")

    # A colleague behind the same office address, and ann from home, still sign in.
    colleague = _sign_in(Client(REMOTE_ADDR="203.0.113.7"), PASSWORD, username="bob")
    from_home = _sign_in(Client(REMOTE_ADDR="198.51.100.20"), PASSWORD)

    assert (colleague.status_code, from_home.status_code) == (302, 302)
    assert _sign_in(Client(REMOTE_ADDR="203.0.113.7"), PASSWORD).status_code == 429


def test_the_admin_login_is_throttled_too(make_user: Callable[..., User]) -> None:
    make_user("Admin", username="root", password=PASSWORD)
    client = Client()

    answers = [
        client.post(reverse("admin:login"), {"username": "root", "password": f"wrong-{n}"}).status_code
        for n in range(3)
    ]

    assert answers == [200, 200, 429]
    assert "_auth_user_id" not in client.session


def test_under_asgi_the_lockout_page_comes_through_the_async_middleware(ann: User) -> None:
    # daphne runs the middleware chain asynchronously, where axes takes another code path.
    async def attempts() -> list[tuple[int, str]]:
        client = AsyncClient()
        answers = []
        for attempt in range(3):
            response = await client.post(
                reverse("accounts:login"), {"username": "ann", "password": f"wrong-{attempt}"}
            )
            answers.append((response.status_code, response.content.decode()))
        return answers

    answers = async_to_sync(attempts)()

    assert [status for status, _ in answers] == [200, 200, 429]
    assert LOCKED in answers[-1][1]


def test_a_locked_out_attempt_is_recorded_where_an_admin_can_unlock_it(ann: User) -> None:
    client = Client()
    for attempt in range(3):
        _sign_in(client, f"wrong-{attempt}")

    attempt = AccessAttempt.objects.get()
    attempt.delete()  # what the admin's delete does (Axes > Access attempts)

    assert _sign_in(client, PASSWORD).status_code == 302
