from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import User
from apps.core.actors import SYSTEM
from apps.customers.duplicates import (
    duplicate_candidates_for,
    duplicate_pairs,
    name_similarity,
    normalize_name,
)
from apps.customers.models import Customer
from apps.customers.services.customers import ContactInput, customer_create
from apps.customers.services.gdpr import customer_erase

pytestmark = pytest.mark.django_db

Make = Callable[..., Customer]


@pytest.fixture
def make(agent: User) -> Make:
    def make(first: str, last: str, *contacts: str, organization: str = "") -> Customer:
        return customer_create(
            actor=agent,
            first_name=first,
            last_name=last,
            organization_name=organization,
            contacts=[ContactInput(kind="email" if "@" in c else "phone", value=c) for c in contacts],
        )

    return make


def test_normalize_name_ignores_case_accents_and_spaces() -> None:
    assert normalize_name("  José ", "GARCÍA  López") == "jose garcia lopez"


def test_name_similarity_matches_pg_trgm() -> None:
    # Values pg_trgm's similarity() returns for the same strings.
    assert name_similarity("john smith", "john smith") == 1.0
    assert round(name_similarity("jon smith", "john smith"), 4) == round(8 / 13, 4)
    assert name_similarity("ada", "") == 0.0


def test_same_name_and_organization_is_explained(make: Make) -> None:
    ada = make("Ada", "Lovelace", "ada@one.example", organization="Engines")
    twin = make("ADA", "lovelace", "countess@two.example", organization="Engines")
    make("Grace", "Hopper", "grace@navy.example", organization="Engines")

    candidates = duplicate_candidates_for(ada)

    assert [(c.customer.pk, c.reasons, c.score) for c in candidates] == [
        (twin.pk, ["same name", "same organization (Engines)"], 0.7)
    ]


def test_same_national_number_in_another_country_code(make: Make) -> None:
    french = make("Marie", "Curie", "+33 6 12 34 56 78")
    spanish = make("M.", "Sklodowska", "+34 612 34 56 78")

    candidates = duplicate_candidates_for(french)

    assert [(c.customer.pk, c.reasons) for c in candidates] == [
        (spanish.pk, ["same phone number with another country code (+33612345678 / +34612345678)"])
    ]


def test_same_email_user_at_another_domain(make: Make) -> None:
    home = make("Alan", "Turing", "alan.turing@home.example")
    work = make("A.", "T.", "alan.turing@work.example")
    make("Info", "Desk", "info@home.example")
    make("Other", "Desk", "info@work.example")

    assert [(c.customer.pk, c.reasons) for c in duplicate_candidates_for(home)] == [
        (work.pk, ["same email user 'alan.turing' at another domain (home.example / work.example)"])
    ]


def test_shared_mailbox_names_are_not_duplicates(make: Make) -> None:
    first = make("Front", "Desk", "info@home.example")
    make("Back", "Office", "info@work.example")

    assert duplicate_candidates_for(first) == []


def test_erased_customers_are_never_candidates(make: Make) -> None:
    ada = make("Ada", "Lovelace", "ada@one.example")
    twin = make("Ada", "Lovelace", "ada@two.example")
    customer_erase(actor=SYSTEM, customer=twin)

    assert duplicate_candidates_for(ada) == []
    assert duplicate_pairs() == []


def test_pairs_scores_and_reasons(make: Make) -> None:
    ada = make("Ada", "Lovelace", "ada@one.example", organization="Engines")
    twin = make("Ada", "Lovelace", "ada@two.example", organization="Engines")
    marie = make("Marie", "Curie", "+33612345678")
    marie_es = make("Marie", "Curie", "+34612345678")
    make("Grace", "Hopper", "grace@navy.example")

    pairs = duplicate_pairs()

    assert [(p.first.pk, p.second.pk, p.score) for p in pairs] == [
        (ada.pk, twin.pk, 1.0),
        (marie.pk, marie_es.pk, 0.85),
    ]
    assert pairs[0].reasons == [
        "same name",
        "same organization (Engines)",
        "same email user 'ada' at another domain (one.example / two.example)",
    ]
    assert pairs[1].reasons == [
        "same name",
        "same phone number with another country code (+33612345678 / +34612345678)",
    ]


def test_pairs_respect_the_limit(make: Make) -> None:
    for n in range(4):
        make("Sam", f"Twin{n}", f"sam{n}@a.example")
        make("Sam", f"Twin{n}", f"sam{n}@b.example")

    assert len(duplicate_pairs(limit=3)) == 3


def test_candidates_take_a_bounded_number_of_queries(make: Make) -> None:
    ada = make("Ada", "Lovelace", "ada@one.example", "+14155550134")
    for n in range(5):
        make("Ada", "Lovelace", f"ada@{n}.example")

    with CaptureQueriesContext(connection) as ctx:
        candidates = duplicate_candidates_for(ada)

    assert len(candidates) == 5
    assert len(ctx.captured_queries) <= 7


@pytest.mark.postgres
def test_similar_and_accented_names_on_postgres(postgres: None, make: Make) -> None:
    jose = make("José", "García", "jose@one.example")
    plain = make("Jose", "Garcia", "pepe@two.example")
    katherine = make("Katherine", "Johnson", "kj@nasa.example")
    catherine = make("Catherine", "Johnson", "cj@home.example")
    make("Dorothy", "Vaughan", "dv@nasa.example")

    assert [c.customer.pk for c in duplicate_candidates_for(jose)] == [plain.pk]
    similar = duplicate_candidates_for(katherine)
    assert [c.customer.pk for c in similar] == [catherine.pk]
    assert similar[0].reasons == [
        f"similar name ({name_similarity('katherine johnson', 'catherine johnson'):.2f})"
    ]
    pairs = {(p.first.pk, p.second.pk) for p in duplicate_pairs()}
    assert pairs == {(jose.pk, plain.pk), (katherine.pk, catherine.pk)}
