"""Bulk load of do-not-call files: text and CSV, invalid lines counted, duplicates in the file and
on the list, replace, who may load, on SQLite and (postgres marker) through COPY."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from django.utils import timezone

from apps.accounts.models import User
from apps.campaigns.models import DncEntry, DncList, DncListKind
from apps.campaigns.services.dnc_load import DncLoadResult, InvalidDncFile, dnc_list_load
from apps.campaigns.services.gate import contact_decide
from apps.core.actors import SYSTEM
from apps.core.exceptions import NotAllowed
from tests.campaigns.factories import CampaignFactory, LeadFactory
from tests.conftest import require_postgres

FILE = (
    b"(415) 555-0100\n"
    b"415-555-0101\n"
    b"+1 415 555 0102\n"
    b"\n"
    b"not a number\n"
    b"12345\n"
    b"4155550100\n"  # the first line again, written otherwise
    b"+44 20 7946 0958\n"
)
NUMBERS = {"+14155550100", "+14155550101", "+14155550102", "+442079460958"}


def national() -> DncList:
    return DncList.objects.create(name="US registry", kind=DncListKind.NATIONAL)


def numbers_of(dnc_list: DncList) -> set[str]:
    return set(DncEntry.objects.filter(dnc_list=dnc_list).values_list("number", flat=True))


def _load_and_check_a_text_file() -> None:
    # Given a national list and a file with repeats and bad lines
    dnc_list = national()
    # When it is loaded
    result = dnc_list_load(actor=SYSTEM, dnc_list=dnc_list, stream=io.BytesIO(FILE))
    # Then every valid number is there once, bad lines and the repeat are counted
    assert result == DncLoadResult(loaded=4, skipped_invalid=2, duplicates=1)
    assert numbers_of(dnc_list) == NUMBERS
    dnc_list.refresh_from_db()
    assert dnc_list.entry_count == 4
    assert dnc_list.loaded_at is not None
    # And loading it again adds nothing: all five valid lines are duplicates now
    again = dnc_list_load(actor=SYSTEM, dnc_list=dnc_list, stream=io.BytesIO(FILE))
    assert again == DncLoadResult(loaded=0, skipped_invalid=2, duplicates=5)
    dnc_list.refresh_from_db()
    assert dnc_list.entry_count == 4


def _replace_and_check() -> None:
    dnc_list = national()
    DncEntry.objects.create(dnc_list=dnc_list, number="+14155550199")
    DncEntry.objects.create(dnc_list=dnc_list, number="+14155550100")
    result = dnc_list_load(
        actor=SYSTEM, dnc_list=dnc_list, stream=io.BytesIO(b"4155550100\n4155550101\n"), replace=True
    )
    assert result == DncLoadResult(loaded=2, skipped_invalid=0, duplicates=0)
    assert numbers_of(dnc_list) == {"+14155550100", "+14155550101"}
    dnc_list.refresh_from_db()
    assert dnc_list.entry_count == 2


@pytest.mark.django_db
def test_a_text_file_loads_each_valid_number_once() -> None:
    _load_and_check_a_text_file()


@pytest.mark.django_db
def test_replace_leaves_exactly_the_files_numbers() -> None:
    _replace_and_check()


@pytest.mark.django_db
def test_without_replace_the_file_adds_to_the_list() -> None:
    dnc_list = national()
    DncEntry.objects.create(dnc_list=dnc_list, number="+14155550199")
    result = dnc_list_load(actor=SYSTEM, dnc_list=dnc_list, stream=io.BytesIO(b"4155550100\n4155550199\n"))
    assert result == DncLoadResult(loaded=1, skipped_invalid=0, duplicates=1)
    assert numbers_of(dnc_list) == {"+14155550100", "+14155550199"}


@pytest.mark.django_db
def test_a_csv_reads_its_first_column_and_skips_its_header() -> None:
    dnc_list = national()
    stream = io.BytesIO(
        "\ufeffPhone Number,Added\r\n"
        '"(415) 555-0100",2026-01-02\r\n'
        "415.555.0101,2026-01-03\r\n"
        "call me,2026-01-04\r\n".encode()
    )
    result = dnc_list_load(actor=SYSTEM, dnc_list=dnc_list, stream=stream)
    assert result == DncLoadResult(loaded=2, skipped_invalid=1, duplicates=0)
    assert numbers_of(dnc_list) == {"+14155550100", "+14155550101"}


@pytest.mark.django_db
def test_numbers_without_a_country_code_are_read_in_the_default_region() -> None:
    dnc_list = national()
    result = dnc_list_load(
        actor=SYSTEM, dnc_list=dnc_list, stream=io.BytesIO(b"020 7946 0958\n"), default_region="gb"
    )
    assert result == DncLoadResult(loaded=1, skipped_invalid=0, duplicates=0)
    assert numbers_of(dnc_list) == {"+442079460958"}


@pytest.mark.django_db
def test_a_bad_region_or_a_binary_file_is_refused_and_loads_nothing() -> None:
    dnc_list = national()
    with pytest.raises(InvalidDncFile, match="default_region"):
        dnc_list_load(actor=SYSTEM, dnc_list=dnc_list, stream=io.BytesIO(FILE), default_region="USA")
    with pytest.raises(InvalidDncFile, match="file: line 2 is not UTF-8"):
        dnc_list_load(actor=SYSTEM, dnc_list=dnc_list, stream=io.BytesIO(b"4155550100\n\xff\xfe\x00\n"))
    assert numbers_of(dnc_list) == set()
    dnc_list.refresh_from_db()
    assert (dnc_list.entry_count, dnc_list.loaded_at) == (0, None)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["Marketer", "Admin"])
def test_marketers_and_admins_load_lists(make_user: Callable[..., User], role: str) -> None:
    dnc_list = national()
    result = dnc_list_load(actor=make_user(role), dnc_list=dnc_list, stream=io.BytesIO(b"4155550100\n"))
    assert result.loaded == 1


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["Agent", "Supervisor"])
def test_agents_and_supervisors_may_not_load_a_list_and_nothing_changes(
    make_user: Callable[..., User], role: str
) -> None:
    dnc_list = national()
    DncEntry.objects.create(dnc_list=dnc_list, number="+14155550199")
    with pytest.raises(NotAllowed):
        dnc_list_load(
            actor=make_user(role), dnc_list=dnc_list, stream=io.BytesIO(b"4155550100\n"), replace=True
        )
    assert numbers_of(dnc_list) == {"+14155550199"}
    dnc_list.refresh_from_db()
    assert (dnc_list.entry_count, dnc_list.loaded_at) == (0, None)


@pytest.mark.django_db
def test_a_loaded_number_is_refused_by_the_gate() -> None:
    campaign = CampaignFactory()
    lead = LeadFactory(campaign=campaign, contact="+14155550101")
    dnc_list_load(actor=SYSTEM, dnc_list=national(), stream=io.BytesIO(FILE))
    decision = contact_decide(campaign=campaign, lead=lead, channel="voice", now=timezone.now())
    assert decision.rule == "dnc_national"


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_loads_through_copy() -> None:
    require_postgres()
    _load_and_check_a_text_file()


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_replace_leaves_exactly_the_files_numbers() -> None:
    require_postgres()
    _replace_and_check()


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_two_loads_in_one_transaction_reuse_the_temporary_table_name() -> None:
    require_postgres()
    dnc_list = national()
    first = dnc_list_load(actor=SYSTEM, dnc_list=dnc_list, stream=io.BytesIO(b"4155550100\n"))
    second = dnc_list_load(actor=SYSTEM, dnc_list=dnc_list, stream=io.BytesIO(b"4155550101\n4155550100\n"))
    assert (first.loaded, second.loaded, second.duplicates) == (1, 1, 1)
    assert numbers_of(dnc_list) == {"+14155550100", "+14155550101"}
