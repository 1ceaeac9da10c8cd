from __future__ import annotations

from typing import TYPE_CHECKING

from apps.core.exceptions import Conflict, DomainError

if TYPE_CHECKING:
    from apps.customers.models import ContactPoint


class InvalidContact(DomainError):
    code = "invalid_contact"


class InvalidCustomFields(DomainError):
    code = "invalid_custom_fields"

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{key}: {msg}" for key, msg in errors.items()))


class ContactPointTaken(Conflict):
    """The contact point already belongs to another customer: a duplicate to merge, not to copy."""

    code = "contact_point_taken"

    def __init__(self, contact_point: ContactPoint) -> None:
        self.contact_point = contact_point
        super().__init__(
            f"{contact_point.value} already belongs to customer #{contact_point.customer_id}; "
            "merge the two customers instead."
        )


class ContactErased(InvalidContact):
    """The contact point belongs to a person whose data was erased (apps.customers.erasure).

    A conflict (409), not a typo; it is an InvalidContact too, so every form that shows why a
    contact point was not taken shows this reason on the contact field instead of failing."""

    code = "contact_erased"
    http_status = 409

    def __init__(self, value: str = "") -> None:
        self.value = value
        shown = f"{value}: " if value else ""
        super().__init__(
            f"{shown}this contact point belongs to a person whose data was erased; re-adding them "
            "needs their consent (a supervisor or an admin can confirm it)."
        )


class MergeNotAllowed(DomainError):
    code = "merge_not_allowed"
