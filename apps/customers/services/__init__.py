"""Every write of the customers app. Import from here: `from apps.customers import services`."""

from apps.customers.services.customers import (
    build_search_text,
    contact_point_add,
    contact_point_remove,
    contact_point_set_consent,
    contact_point_update,
    customer_create,
    customer_refresh_search_text,
    customer_set_tags,
    customer_update,
    derived_time_zone,
    note_add,
)

__all__ = [
    "build_search_text",
    "contact_point_add",
    "contact_point_remove",
    "contact_point_set_consent",
    "contact_point_update",
    "customer_create",
    "customer_refresh_search_text",
    "customer_set_tags",
    "customer_update",
    "derived_time_zone",
    "note_add",
]
