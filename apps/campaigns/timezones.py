"""The time zones a contact may be in: the customer's own zone when it is known, else every zone
phonenumbers gives for the number (a US area code can span two; a country can span many), else
the campaign's fallback zone. The calling window must hold in every one."""

from __future__ import annotations

import zoneinfo

import phonenumbers
from phonenumbers import timezone as number_timezone

UNKNOWN = "Etc/Unknown"


def number_time_zones(number: str) -> list[str]:
    """IANA zones phonenumbers maps an E.164 number to (sorted, valid zones only); [] when it
    knows none."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return []
    zones = set()
    for name in number_timezone.time_zones_for_number(parsed):
        if name == UNKNOWN:
            continue
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue
        zones.add(name)
    return sorted(zones)


def _is_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False  # a zone we cannot read is no zone: the number's zones decide
    return True


def contact_time_zones(*, contact: str, customer_time_zone: str = "", fallback: str = "UTC") -> list[str]:
    """The zones the window is checked in for this contact: the customer's zone when set, else
    the number's zones, else the fallback."""
    if customer_time_zone and _is_zone(customer_time_zone):
        return [customer_time_zone]
    if contact.startswith("+"):
        zones = number_time_zones(contact)
        if zones:
            return zones
    return [fallback]
