"""Signals the customers app sends so higher apps (interactions, campaigns, surveys) can follow
customers through merges, erasure and imports without customers importing them.

All three are sent inside the service's transaction: a receiver's writes commit or roll back
together with the merge, the erasure or the import batch, and a receiver that raises aborts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

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


class ImportedRow(NamedTuple):
    """One good row of an import batch, as `import_batch_written` hands it to receivers."""

    line: int
    """The row's line in the file (the header is line 1)."""
    customer_id: int
    """The customer the row created, updated or found unchanged."""
    phones: tuple[str, ...]
    """The row's phones, E.164, in column order, without repeats."""
    emails: tuple[str, ...]
    """The row's emails, lower-cased, in column order, without repeats."""
    time_zone: str
    """The customer's time zone after the write ('' when neither set nor derivable from a phone)."""
    cells: Sequence[str]
    extra_columns: Sequence[tuple[str, int]]

    @property
    def extra(self) -> dict[str, str]:
        """The row's columns the mapping left unmapped, header -> cell as written (for scripts,
        merge fields and appointment dates). Built when read, so a receiver that ignores the
        batch costs nothing per row."""
        return {header: self.cells[index] for header, index in self.extra_columns}


import_batch_written = Signal()
"""Sent by the customer import (apps.customers.services.imports) for each batch it writes,
inside the batch's transaction (after its customers, contact points and tags are written,
before its rejected rows and the job's counters), with `sender=ImportJob`, `job_id` and `rows`: a list
of ImportedRow, one per good row in file order (rejected rows are in the job's error report,
not here). A batch that is retried (someone created one of its customers meanwhile) is rolled
back with its receivers' writes and sent again.

Only sent when a receiver is connected when the job starts (a plain import builds nothing for
it). A receiver that follows only some jobs (campaigns: the jobs of a contact list) should
check `job_id` first and return at once for the others. It must write in bulk (a batch is up
to 20,000 rows): no query per row.

A receiver may return a list of `(line, reason)` notes about rows it could not fully use (an
appointment date it cannot read): they are added to the job's error report with the batch,
not counted as rejected (the row's customer was written), and the reason should say what was
kept. Anything else it returns is ignored; an exception fails the batch and the job."""
