"""Domain errors of the campaigns app; apps.core.api maps them to HTTP in one place."""

from __future__ import annotations

from apps.core.exceptions import Conflict, DomainError


class InvalidCampaign(DomainError):
    """A campaign's settings do not hold together (a voice campaign without a queue, a window
    that ends before it starts, an unknown day or time zone). Nothing was saved."""

    code = "invalid_campaign"


class InvalidStatusChange(Conflict):
    """The campaign cannot move to that status from where it is (a completed campaign never
    starts again; a voice campaign without a queue cannot start). Nothing changed."""

    code = "invalid_status_change"
