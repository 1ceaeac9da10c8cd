"""A fast exact path for apps.customers.normalize.normalize_phone.

phonenumbers.parse + is_valid_number costs ~40 us a number in pure Python, most of it in generic
input handling (extensions, letters, RFC 3966, a large "is this viable" regex). An import of a
million rows cannot afford that, and almost every cell in a real file is a plain run of digits
with the usual separators. For those cells this module repeats phonenumbers' own steps (country
code extraction, national prefix stripping with the library's functions, and the validity rules
of is_valid_number, compiled once per region into one regex per number length). Anything
unusual - letters, extensions, IDD prefixes, a default country code written without "+",
unknown regions, invalid numbers - returns None so the caller falls back to normalize_phone,
which stays the single definition of a valid phone. tests/customers/test_import_fuzz.py proves
the two agree on randomized and generated input.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata
from phonenumbers import PhoneNumber as _PhoneNumber
from phonenumbers import phonenumberutil as _pnu
from phonenumbers import timezone as _timezone
from phonenumbers.tzdata import TIMEZONE_DATA as _TIMEZONE_DATA
from phonenumbers.tzdata import TIMEZONE_LONGEST_PREFIX as _TIMEZONE_LONGEST_PREFIX

_SEPARATORS = str.maketrans("", "", " -.()")
_DIGITS = re.compile(r"[0-9]+")
_MIN_NSN = 2
_MAX_NSN = 17
_NON_GEO = "001"
_STRIP_REJECTS = (
    _pnu.ValidationResult.TOO_SHORT,
    _pnu.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    _pnu.ValidationResult.INVALID_LENGTH,
)

# -- phonenumbers' private steps, in one place ------------------------------------------------
# The fast path must strip a national prefix and pick a country's zones exactly as
# phonenumbers.parse and phonenumbers.timezone do, and the library offers those steps only as
# private functions. They are called here and nowhere else; tests/customers/test_phone_internals.py
# fails by name when a phonenumbers release renames or changes them, and the fuzz tests
# (test_import_fuzz.py) check the whole fast path against normalize_phone.


def library_strip_national_prefix(national: str, metadata: Any) -> tuple[str, Any]:
    """phonenumbers' own national-prefix stripping of `national` for the region's metadata, and
    its length test of the result (a ValidationResult): the steps parse takes."""
    _carrier, potential, _stripped = _pnu._maybe_strip_national_prefix_carrier_code(national, metadata)
    return potential, _pnu._test_number_length(potential, metadata)


def library_country_time_zones(country_code: int) -> Any:
    """The zones phonenumbers.timezone gives a non-geographical number of the country code."""
    return _timezone._country_level_time_zones_for_number(_PhoneNumber(country_code, 1))


# What a valid number's type means for its time zone (phonenumbers.timezone): numbers of a
# geographical type are looked up by prefix, the others get their country's zones.
INVALID, NON_GEOGRAPHICAL, FIXED_LINE, MOBILE = 0, 1, 2, 3
Classifier = Callable[[str], int]


def _never(nsn: str) -> int:
    return INVALID


def _compile_classifier(metadata: Any) -> Classifier:
    """nsn -> INVALID when phonenumbers' _number_type_helper(nsn, metadata) is UNKNOWN, else the
    class of the type it returns. One regex per length whose alternatives are the number types in
    the helper's order: the first alternative that matches the whole number is the helper's
    answer."""
    general = metadata.general_desc
    if general is None or not general.national_number_pattern:
        return _never
    general_re = re.compile(general.national_number_pattern)
    general_lengths = frozenset(general.possible_length or ())
    descs = [
        (metadata.premium_rate, NON_GEOGRAPHICAL),
        (metadata.toll_free, NON_GEOGRAPHICAL),
        (metadata.shared_cost, NON_GEOGRAPHICAL),
        (metadata.voip, NON_GEOGRAPHICAL),
        (metadata.personal_number, NON_GEOGRAPHICAL),
        (metadata.pager, NON_GEOGRAPHICAL),
        (metadata.uan, NON_GEOGRAPHICAL),
        (metadata.voicemail, NON_GEOGRAPHICAL),
        (metadata.fixed_line, FIXED_LINE),
    ]
    # With identical fixed-line and mobile patterns phonenumbers only tries fixed-line.
    if not metadata.same_mobile_and_fixed_line_pattern:
        descs.append((metadata.mobile, MOBILE))
    by_length: dict[int, tuple[re.Pattern[str], list[tuple[str, int]]] | None] = {}
    for length in range(_MIN_NSN, _MAX_NSN + 1):
        alternatives = [
            (f"t{index}", desc.national_number_pattern, kind)
            for index, (desc, kind) in enumerate(descs)
            if desc is not None
            and desc.national_number_pattern
            and (not desc.possible_length or length in desc.possible_length)
        ]
        if alternatives:
            pattern = re.compile("|".join(f"(?P<{name}>{body})" for name, body, _ in alternatives))
            by_length[length] = (pattern, [(name, kind) for name, _, kind in alternatives])
        else:
            by_length[length] = None

    def classify(nsn: str) -> int:
        if general_lengths and len(nsn) not in general_lengths:
            return INVALID
        if general_re.fullmatch(nsn) is None:
            return INVALID
        entry = by_length.get(len(nsn))
        if entry is None:
            return INVALID
        match = entry[0].fullmatch(nsn)
        if match is None:
            return INVALID
        for name, kind in entry[1]:
            if match.group(name) is not None:
                return kind
        return INVALID

    return classify


@lru_cache(maxsize=512)
def _metadata(region: str) -> Any:
    return PhoneMetadata.metadata_for_region(region, None)


@lru_cache(maxsize=512)
def _metadata_for_code(country_code: int, region: str) -> Any:
    return PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)


@lru_cache(maxsize=1024)
def _validator(country_code: int, region: str) -> Classifier:
    metadata = _metadata_for_code(country_code, region)
    return _never if metadata is None else _compile_classifier(metadata)


@lru_cache(maxsize=1024)
def _prefix_re(country_code: int, region: str) -> re.Pattern[str] | None:
    metadata = _metadata_for_code(country_code, region)
    prefix = metadata.national_prefix_for_parsing if metadata is not None else None
    return re.compile(prefix) if prefix else None


@lru_cache(maxsize=512)
def _idd_re(region: str) -> re.Pattern[str] | None:
    metadata = _metadata(region)
    prefix = metadata.international_prefix if metadata is not None else None
    return re.compile(prefix) if prefix else None


@lru_cache(maxsize=1024)
def _leading_digits_re(region: str) -> re.Pattern[str] | None:
    metadata = _metadata(region)
    if metadata is None or metadata.leading_digits is None:
        return None
    return re.compile(metadata.leading_digits)


def _main_region(country_code: int) -> str:
    return COUNTRY_CODE_TO_REGION_CODE[country_code][0]


def _strip_national_prefix(national: str, country_code: int, region: str) -> str:
    """What phonenumbers.parse keeps as the national significant number."""
    prefix = _prefix_re(country_code, region)
    if prefix is None or prefix.match(national) is None:
        return national
    metadata = _metadata_for_code(country_code, region)
    potential, length = library_strip_national_prefix(national, metadata)
    if length in _STRIP_REJECTS:
        return national
    return potential


def _compile_country_validator(country_code: int) -> Classifier:
    """phonenumbers.number_type (as a class) for numbers of one country code: pick the region the
    way region_code_for_number does, then classify against that region; INVALID is exactly
    `not is_valid_number`."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code) or ()
    if len(regions) == 1:
        return _validator(country_code, regions[0])
    candidates = [
        (_leading_digits_re(region), _validator(country_code, region))
        for region in regions
        if _metadata(region) is not None
    ]

    def classify(nsn: str) -> int:
        for leading, region_classify in candidates:
            if leading is not None:
                if leading.match(nsn):
                    return region_classify(nsn)
            else:
                kind = region_classify(nsn)
                if kind != INVALID:
                    return kind
        return INVALID

    return classify


def _first_zone(zones: Any) -> str:
    known = [zone for zone in zones if zone != "Etc/Unknown"]
    return known[0] if known else ""


class _Country:
    __slots__ = ("classify", "code", "country_zone", "geo_mobile", "prefix")

    def __init__(self, code: int, region: str) -> None:
        self.code = code
        self.prefix = _prefix_re(code, region)
        self.classify = _compile_country_validator(code)
        self.geo_mobile = _pnu.is_number_type_geographical(_pnu.PhoneNumberType.MOBILE, code)
        self.country_zone = _first_zone(library_country_time_zones(code))

    def time_zone(self, e164: str, kind: int) -> str:
        """apps.customers.normalize.time_zone_for_phone for a valid number of this country."""
        if kind == NON_GEOGRAPHICAL or (kind == MOBILE and not self.geo_mobile):
            return self.country_zone
        digits = e164[1:]
        for size in range(min(_TIMEZONE_LONGEST_PREFIX, len(digits)), 0, -1):
            zones = _TIMEZONE_DATA.get(digits[:size])
            if zones is not None:
                return _first_zone(zones)
        return ""


class _Region:
    __slots__ = ("code_text", "country", "idd", "prefix")

    def __init__(self, region: str, metadata: Any) -> None:
        self.country = _country(metadata.country_code)
        self.prefix = _prefix_re(metadata.country_code, region)
        self.code_text = str(metadata.country_code)
        self.idd = _idd_re(region)


_COUNTRIES: dict[int, _Country] = {}
_REGIONS: dict[str, _Region | None] = {}


def _country(code: int) -> _Country:
    country = _COUNTRIES.get(code)
    if country is None:
        country = _COUNTRIES[code] = _Country(code, _main_region(code))
    return country


def _region(region: str) -> _Region | None:
    if region not in _REGIONS:
        metadata = _metadata(region)
        _REGIONS[region] = (
            _Region(region, metadata) if metadata is not None and metadata.country_code else None
        )
    return _REGIONS[region]


def fast_normalize_phone(raw: str, region: str) -> tuple[str, str] | None:
    """(E.164, time zone) for a plainly written valid phone, exactly what normalize_phone and
    time_zone_for_phone return; None when normalize_phone must decide (unusual input or an
    invalid number). `region` must already be upper-case."""
    text = raw.strip()
    if len(text) > 40:
        return None
    if text.startswith("00"):
        text = "+" + text[2:]
    text = text.translate(_SEPARATORS)
    plus = text.startswith("+")
    digits = text[1:] if plus else text
    if _DIGITS.fullmatch(digits) is None:
        return None
    if plus:
        if len(digits) <= _MIN_NSN or digits[0] == "0":
            return None
        for size in (1, 2, 3):
            code = int(digits[:size])
            if code in COUNTRY_CODE_TO_REGION_CODE:
                break
        else:
            return None
        country = _country(code)
        prefix = country.prefix
        national = digits[size:]
        number_region = _main_region(code)
    else:
        local = _region(region)
        if local is None:
            return None
        if local.idd is not None and local.idd.match(digits):
            return None
        if digits.startswith(local.code_text):
            return None
        country = local.country
        prefix = local.prefix
        national = digits
        number_region = region
    if len(national) < _MIN_NSN:
        return None
    nsn = national
    if prefix is not None and prefix.match(national) is not None:
        nsn = _strip_national_prefix(national, country.code, number_region)
    if not (_MIN_NSN <= len(nsn) <= _MAX_NSN):
        return None
    kind = country.classify(nsn)
    if kind == INVALID:
        return None
    e164 = f"+{country.code}{nsn}"
    return e164, country.time_zone(e164, kind)
