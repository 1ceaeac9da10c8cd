"""API tokens that expire, and the token endpoint (/api/v1/auth/token/): a fresh token for an
expired one, and the same sign-in throttling as the login page (it really goes through axes)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.accounts.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "Secret-pass-123"
TOKEN_URL = "/api/v1/auth/token/"
SOME_API = "/api/v1/queues/"


@pytest.fixture(autouse=True)
def _limits(settings: Any) -> None:
    settings.API_TOKEN_TTL = timedelta(hours=24)
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


@pytest.fixture
def ann(make_user: Callable[..., User]) -> User:
    return make_user("Agent", username="ann", password=PASSWORD)


def _ask_token(password: str, username: str = "ann", **headers: str) -> Any:
    return APIClient().post(TOKEN_URL, {"username": username, "password": password}, format="json", **headers)


def _age(token: Token, hours: float) -> None:
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - timedelta(hours=hours))


def _call_api(key: str) -> Any:
    return APIClient().get(SOME_API, HTTP_AUTHORIZATION=f"Token {key}")


def test_the_token_endpoint_gives_a_token_and_when_it_expires(ann: User) -> None:
    before = timezone.now()

    response = _ask_token(PASSWORD)

    assert response.status_code == 200
    token = Token.objects.get(user=ann)
    assert response.json()["token"] == token.key
    expires = parse_datetime(response.json()["expires"])
    assert expires == token.created + timedelta(hours=24)
    assert before + timedelta(hours=24) <= expires


def test_a_token_within_its_lifetime_is_accepted(ann: User) -> None:
    token = Token.objects.create(user=ann)  # as scripts and the API fuzzing test make them
    _age(token, 23.9)

    assert _call_api(token.key).status_code == 200


def test_an_expired_token_gets_401_saying_it_expired_and_how_to_get_a_new_one(ann: User) -> None:
    token = Token.objects.create(user=ann)
    _age(token, 24)

    response = _call_api(token.key)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {
        "detail": "The API token has expired (tokens are valid for 24 hours). Get a new one by "
        "POSTing your username and password to /api/v1/auth/token/."
    }


def test_an_unknown_token_gets_401_too(ann: User) -> None:
    response = _call_api("0" * 40)

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_the_endpoint_returns_the_current_token_while_it_is_valid(ann: User) -> None:
    token = Token.objects.create(user=ann)
    _age(token, 2)

    response = _ask_token(PASSWORD)

    assert response.json()["token"] == token.key
    assert Token.objects.filter(user=ann).count() == 1


def test_the_endpoint_replaces_an_expired_token_with_a_fresh_one(ann: User) -> None:
    old = Token.objects.create(user=ann)
    _age(old, 25)

    response = _ask_token(PASSWORD)

    new_key = response.json()["token"]
    assert response.status_code == 200
    assert new_key != old.key
    assert list(Token.objects.filter(user=ann).values_list("key", flat=True)) == [new_key]
    assert _call_api(new_key).status_code == 200
    assert _call_api(old.key).status_code == 401


def test_an_expired_token_sent_along_does_not_block_getting_a_new_one(ann: User) -> None:
    old = Token.objects.create(user=ann)
    _age(old, 25)

    response = _ask_token(PASSWORD, HTTP_AUTHORIZATION=f"Token {old.key}")

    assert response.status_code == 200
    assert response.json()["token"] != old.key


def test_a_wrong_password_is_a_400_that_says_so_and_issues_nothing(ann: User) -> None:
    response = _ask_token("wrong")

    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}
    assert not Token.objects.exists()


def test_a_username_longer_than_any_account_is_a_400_naming_the_field_and_records_nothing(ann: User) -> None:
    response = _ask_token(PASSWORD, username="a" * 300)

    assert response.status_code == 400
    assert response.json() == {"username": ["Ensure this field has no more than 150 characters."]}
    assert (Token.objects.count(), AccessAttempt.objects.count()) == (0, 0)


def test_the_third_failure_locks_the_endpoint_with_429_json_and_retry_after(ann: User) -> None:
    answers = [_ask_token(f"wrong-{n}") for n in range(3)]

    assert [a.status_code for a in answers] == [400, 400, 429]
    assert answers[-1]["Retry-After"] == "900"
    assert answers[-1].json() == {
        "detail": "Too many failed sign-ins for this username from your address. Try again in 15 minutes; "
        "each attempt before then starts the wait again. An administrator can unlock it sooner.",
        "code": "locked_out",
    }


def test_while_locked_out_the_right_password_gets_no_token(ann: User) -> None:
    for n in range(3):
        _ask_token(f"wrong-{n}")

    response = _ask_token(PASSWORD)

    assert response.status_code == 429
    assert not Token.objects.exists()


def test_failures_on_the_login_page_and_the_api_add_up(ann: User) -> None:
    # One count for one username from one address, whichever door the guesses knock on.
    page = Client()
    page.post(reverse("accounts:login"), {"username": "ann", "password": "wrong-1"})
    page.post(reverse("accounts:login"), {"username": "ann", "password": "wrong-2"})

    response = _ask_token("wrong-3")

    assert response.status_code == 429
    assert AccessAttempt.objects.get().failures_since_start == 3


def test_a_token_request_that_succeeds_clears_the_failures(ann: User) -> None:
    _ask_token("wrong-1")
    _ask_token("wrong-2")

    assert _ask_token(PASSWORD).status_code == 200
    assert not AccessAttempt.objects.exists()
    assert [_ask_token("wrong-3").status_code, _ask_token("wrong-4").status_code] == [400, 400]


def test_the_lockout_of_the_endpoint_ends_after_the_cool_off(ann: User) -> None:
    for n in range(3):
        _ask_token(f"wrong-{n}")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))

    assert _ask_token(PASSWORD).status_code == 200
