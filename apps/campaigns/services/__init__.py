"""Every write of the campaigns app. Import from here: `from apps.campaigns import services`."""

from apps.campaigns.services.attempts import attempt_finish, attempt_start, retry_delay
from apps.campaigns.services.campaigns import (
    campaign_create,
    campaign_may_manage,
    campaign_set_status,
    campaign_update,
    campaign_validate,
)
from apps.campaigns.services.dnc import dnc_add, internal_list

__all__ = [
    "attempt_finish",
    "attempt_start",
    "campaign_create",
    "campaign_may_manage",
    "campaign_set_status",
    "campaign_update",
    "campaign_validate",
    "dnc_add",
    "internal_list",
    "retry_delay",
]
