"""The phonenumbers steps the import's fast phone path repeats are private functions of the
library (apps.customers.importing.phones calls them in one place). These tests fail by name
when a phonenumbers release renames them or changes what they return, before the fuzz tests
would find a subtler disagreement."""

from __future__ import annotations

import phonenumbers
import pytest
from phonenumbers import phonenumberutil

from apps.customers.exceptions import InvalidContact
from apps.customers.importing.phones import library_country_time_zones, library_strip_national_prefix
from apps.customers.normalize import normalize_phone


def test_phonenumbers_still_has_the_private_steps_the_fast_path_calls() -> None:
    missing = [
        name
        for module, name in (
            (phonenumberutil, "_maybe_strip_national_prefix_carrier_code"),
            (phonenumberutil, "_test_number_length"),
            (phonenumbers.timezone, "_country_level_time_zones_for_number"),
        )
        if not callable(getattr(module, name, None))
    ]
    assert not missing, (
        f"phonenumbers {phonenumbers.__version__} no longer has {missing}: update importing/phones.py"
    )


def test_the_national_prefix_is_stripped_as_parse_strips_it() -> None:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("GB")

    stripped, length = library_strip_national_prefix("02079460018", metadata)

    assert stripped == "2079460018"
    assert stripped == str(phonenumbers.parse("020 7946 0018", "GB").national_number)
    assert length == phonenumberutil.ValidationResult.IS_POSSIBLE


def test_a_country_code_gets_the_zones_the_timezone_module_gives_its_non_geographic_numbers() -> None:
    assert tuple(library_country_time_zones(44)) == (
        "Europe/Guernsey",
        "Europe/Isle_of_Man",
        "Europe/Jersey",
        "Europe/London",
    )
    assert tuple(library_country_time_zones(33)) == ("Europe/Paris",)


def test_a_number_that_cannot_be_parsed_says_why_in_words() -> None:
    with pytest.raises(InvalidContact, match=r"'\+999 1234' is not a phone number \(no known country code\)"):
        normalize_phone("+999 1234")
    with pytest.raises(
        InvalidContact, match=r"is not a phone number \(it does not look like a phone number\)"
    ):
        normalize_phone("hello")
