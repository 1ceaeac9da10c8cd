"""Signals the customers app sends so higher apps (interactions, campaigns, surveys) can follow
customers through merges and erasure without customers importing them.

Both are sent inside the service's transaction: a receiver's writes commit or roll back together
with the merge/erasure, and a receiver that raises aborts it.
"""

from __future__ import annotations

from django.dispatch import Signal

customer_merged = Signal()
"""Sent by customer_merge before the duplicate row is deleted, with `survivor_id`, `duplicate_id`
and `actor`. Receivers move their rows that point to the duplicate over to the survivor
(e.g. `Interaction.objects.filter(customer_id=duplicate_id).update(customer_id=survivor_id)`)."""

customer_erased = Signal()
"""Sent by customer_erase after the customer's personal data is removed, with `customer_id`,
`actor` and `contact_values` (the erased contact points as normalized (kind, value, network)
tuples, so a receiver can also scrub rows that name the person without linking them). Receivers scrub personal data they hold about the customer (message bodies, recordings,
addresses) and keep what statistics need (times, durations, outcomes)."""
