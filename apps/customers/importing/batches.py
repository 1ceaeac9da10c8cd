"""Resolving and writing one batch of validated rows.

`BatchWriter.write` runs inside the batch's transaction: it finds which existing customer each
row names (external id, then phones and emails), rejects rows that name two customers, diffs the
rest against what is stored and writes only real changes. The decisions are shared; only the
storage differs: `PostgresStore` streams rows with COPY into temporary tables and upserts with
set-based SQL, `OrmStore` uses bulk_create/bulk_update (SQLite and other databases).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Lower

from apps.customers.importing.rows import NEEDS_NAME_OR_CONTACT, CleanRow, RowError
from apps.customers.models import (
    ContactPoint,
    ContactPointKind,
    Customer,
    LifecycleStage,
    Organization,
    Tag,
)
from apps.customers.normalize import time_zone_from_phones
from apps.customers.services.customers import build_search_text

PHONE = ContactPointKind.PHONE.value
EMAIL = ContactPointKind.EMAIL.value
EXTERNAL_ID = "external_id"
CONSENT_KINDS = {"do_not_call": PHONE, "sms_opt_in": PHONE, "email_opt_out": EMAIL}
CUSTOMER_COLUMNS = (
    "id",
    "external_id",
    "first_name",
    "last_name",
    "organization_id",
    "job_title",
    "owner_id",
    "lifecycle_stage",
    "time_zone",
    "custom_fields",
    "search_text",
    "is_erased",
    "created_at",
    "updated_at",
)
UPDATE_COLUMNS = CUSTOMER_COLUMNS[1:11]
_TIME_ZONE_COLUMN = CUSTOMER_COLUMNS.index("time_zone")
CONTACT_COLUMNS = (
    "customer_id",
    "kind",
    "network",
    "value",
    "label",
    "is_primary",
    "do_not_call",
    "do_not_call_at",
    "do_not_call_source",
    "email_opt_out",
    "email_opt_out_at",
    "email_opt_out_source",
    "sms_opt_in",
    "sms_opt_in_at",
    "sms_opt_in_source",
    "created_at",
)
CONSENT_COLUMNS = CONTACT_COLUMNS[6:15]
_EMPTY_JSON = "{}"


class ConcurrentChange(Exception):
    """Someone else wrote a customer or contact point this batch meant to create: the batch's
    transaction is rolled back and the batch is resolved again."""


@dataclass
class ContactState:
    pk: int
    kind: str
    value: str
    is_primary: bool
    consent: dict[str, Any]


@dataclass
class CustomerState:
    pk: int
    values: dict[str, Any]
    organization_name: str
    tags: set[str] = field(default_factory=set)
    contacts: list[ContactState] = field(default_factory=list)


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    touched: dict[int, int] = field(default_factory=dict)
    # (row, customer id, the customer's time zone after the write) for every good row, only
    # when the writer was asked to report them (someone listens to import_batch_written).
    written: list[tuple[CleanRow, int, str]] = field(default_factory=list)


class Store(Protocol):
    def resolve(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]: ...
    def insert_customers(self, rows: list[list[Any]]) -> None: ...
    def allocate_customer_ids(self, count: int) -> list[int] | None: ...
    def insert_contacts(self, rows: list[tuple[Any, ...]]) -> None: ...
    def update_customers(self, rows: list[tuple[Any, ...]], now: dt.datetime) -> None: ...
    def update_contacts(self, rows: list[tuple[Any, ...]]) -> None: ...
    def add_tags(self, pairs: set[tuple[int, str]]) -> None: ...


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def load_states(ids: Iterable[int]) -> dict[int, CustomerState]:
    """What the diff needs about existing customers, in three queries per 500 customers."""
    states: dict[int, CustomerState] = {}
    ids = sorted(set(ids))
    for chunk in _chunks(ids, 500):
        for row in Customer.objects.filter(pk__in=chunk).values(
            "id", *UPDATE_COLUMNS[:-1], "search_text", "organization__name"
        ):
            pk = row.pop("id")
            states[pk] = CustomerState(
                pk=pk, values=row, organization_name=row.pop("organization__name") or ""
            )
        for customer_id, name in Tag.customers.through.objects.filter(customer_id__in=chunk).values_list(
            "customer_id", "tag__name"
        ):
            states[customer_id].tags.add(name)
        for point in (
            ContactPoint.objects.filter(customer_id__in=chunk)
            .order_by("customer_id", "-is_primary", "kind", "id")
            .values("id", "customer_id", "kind", "network", "value", "is_primary", *CONSENT_COLUMNS)
        ):
            state = states[point["customer_id"]]
            consent = {name: point[name] for name in CONSENT_COLUMNS}
            kind = point["kind"] if not point["network"] else f"{point['kind']}:{point['network']}"
            state.contacts.append(
                ContactState(point["id"], kind, point["value"], point["is_primary"], consent)
            )
    return states


def resolve_organizations(names: set[str]) -> dict[str, tuple[int, str]]:
    """lower(name) -> (id, stored name), creating the missing ones. Matching ignores case like the
    customer services do; the first spelling met creates the organization."""
    found: dict[str, tuple[int, str]] = {}
    if not names:
        return found
    by_lower: dict[str, str] = {}
    for name in sorted(names):
        by_lower.setdefault(name.lower(), name)
    for chunk in _chunks(sorted(by_lower), 500):
        query = Organization.objects.annotate(lname=Lower("name")).filter(
            Q(lname__in=chunk) | Q(name__in=[by_lower[k] for k in chunk])
        )
        for pk, name in query.order_by("id").values_list("id", "name"):
            found.setdefault(name.lower(), (pk, name))
    missing = [by_lower[k] for k in by_lower if k not in found]
    if missing:
        Organization.objects.bulk_create([Organization(name=n) for n in missing], ignore_conflicts=True)
        for chunk in _chunks(missing, 500):
            for pk, name in Organization.objects.filter(name__in=chunk).values_list("id", "name"):
                found.setdefault(name.lower(), (pk, name))
    return found


class BatchWriter:
    """Applies batches of one job. `seen` and `touched` span the whole job: an identifier used by
    an earlier line, or a customer an earlier line already changed, makes a later row a
    duplicate instead of a second, conflicting write."""

    def __init__(
        self, *, store: Store, job_id: int, required_custom: set[str], report_rows: bool = False
    ) -> None:
        self.store = store
        # Fill BatchResult.written (apps.customers.signals.import_batch_written has receivers).
        self.report_rows = report_rows
        self.source = f"import #{job_id}"
        self.required_custom = required_custom
        self.seen: dict[tuple[str, str], int] = {}
        self.touched: dict[int, int] = {}

    # -- in-file duplicates (outside the transaction: it only reads the file) -------------------

    def drop_in_file_duplicates(self, rows: list[CleanRow]) -> tuple[list[CleanRow], list[RowError]]:
        kept: list[CleanRow] = []
        errors: list[RowError] = []
        seen = self.seen
        for row in rows:
            keys = row.identifiers()
            earlier = None
            for key in keys:
                line = seen.get(key)
                if line is not None:
                    earlier = (key, line)
                    break
            if earlier is not None:
                (kind, value), line = earlier
                label = "external id" if kind == EXTERNAL_ID else kind
                errors.append(
                    RowError(
                        row.line, f"duplicate of line {line} in this file (same {label} {value})", row.cells
                    )
                )
                continue
            for key in keys:
                seen[key] = row.line
            kept.append(row)
        return kept, errors

    # -- one batch, inside its transaction -------------------------------------------------------

    def write(self, rows: list[CleanRow], now: dt.datetime) -> BatchResult:
        result = BatchResult()
        keys: set[tuple[str, str]] = set()
        for row in rows:
            keys.update(row.identifiers())
        owners = self.store.resolve(keys) if keys else {}
        new_rows: list[CleanRow] = []
        matches: list[tuple[CleanRow, int]] = []
        for row in rows:
            hits: dict[int, tuple[str, str]] = {}
            if owners:
                for key in row.identifiers():
                    customer_id = owners.get(key)
                    if customer_id is not None and customer_id not in hits:
                        hits[customer_id] = key
            if len(hits) > 1:
                named = ", ".join(
                    f"{'external id' if kind == EXTERNAL_ID else kind} {value} belongs to customer #{pk}"
                    for pk, (kind, value) in sorted(hits.items())
                )
                result.errors.append(RowError(row.line, f"conflict: {named}", row.cells))
            elif hits:
                customer_id = next(iter(hits))
                earlier = self.touched.get(customer_id) or result.touched.get(customer_id)
                if earlier is not None:
                    result.errors.append(
                        RowError(
                            row.line,
                            f"names customer #{customer_id} like line {earlier} in this file",
                            row.cells,
                        )
                    )
                    continue
                result.touched[customer_id] = row.line
                matches.append((row, customer_id))
            elif not row.has_name_or_contact():
                result.errors.append(RowError(row.line, NEEDS_NAME_OR_CONTACT, row.cells))
            else:
                missing = self.required_custom - row.custom.keys()
                if missing:
                    result.errors.append(
                        RowError(
                            row.line,
                            "custom field " + ", ".join(sorted(missing)) + " is required for a new customer",
                            row.cells,
                        )
                    )
                    continue
                new_rows.append(row)
        org_names = {r.organization for r in new_rows if r.organization}
        org_names.update(r.organization for r, _ in matches if r.organization)
        organizations = resolve_organizations(org_names)
        self._create(new_rows, organizations, now, result)
        if matches:
            self._update(matches, organizations, now, result)
        return result

    def _new_contact(
        self,
        customer_id: int,
        kind: str,
        value: str,
        primary: bool,
        consent: dict[str, bool],
        now: dt.datetime,
    ) -> tuple[Any, ...]:
        flags: list[Any] = []
        for name in ("do_not_call", "email_opt_out", "sms_opt_in"):
            if consent.get(name) and CONSENT_KINDS[name] == kind:
                flags += [True, now, self.source]
            else:
                flags += [False, None, ""]
        return (customer_id, kind, "", value, "", primary, *flags, now)

    def _create(
        self,
        rows: list[CleanRow],
        organizations: dict[str, tuple[int, str]],
        now: dt.datetime,
        result: BatchResult,
    ) -> None:
        if not rows:
            return
        ids = self.store.allocate_customer_ids(len(rows))
        customers: list[list[Any]] = []
        for index, row in enumerate(rows):
            organization_id = None
            search_text = row.search_text
            if row.organization:
                organization_id, stored_name = organizations[row.organization.lower()]
                if stored_name != row.organization:
                    search_text = row.new_search_text(stored_name)
            customers.append(
                [
                    ids[index] if ids is not None else None,
                    row.external_id or None,
                    row.first_name,
                    row.last_name,
                    organization_id,
                    row.job_title,
                    row.owner_id,
                    row.lifecycle_stage or LifecycleStage.LEAD.value,
                    row.time_zone or row.phone_zone,
                    json.dumps(row.custom, sort_keys=True) if row.custom else _EMPTY_JSON,
                    search_text,
                    False,
                    now,
                    now,
                ]
            )
        self.store.insert_customers(customers)
        contacts: list[tuple[Any, ...]] = []
        tags: set[tuple[int, str]] = set()
        for row, customer in zip(rows, customers, strict=True):
            customer_id = customer[0]
            consent = row.consent
            for position, value in enumerate(row.phones):
                contacts.append(self._new_contact(customer_id, PHONE, value, position == 0, consent, now))
            for position, value in enumerate(row.emails):
                contacts.append(self._new_contact(customer_id, EMAIL, value, position == 0, consent, now))
            for tag in row.tags:
                tags.add((customer_id, tag))
        if contacts:
            self.store.insert_contacts(contacts)
        if tags:
            self.store.add_tags(tags)
        result.created += len(rows)
        if self.report_rows:
            result.written.extend(
                (row, customer[0], customer[_TIME_ZONE_COLUMN])
                for row, customer in zip(rows, customers, strict=True)
            )

    def _update(
        self,
        matches: list[tuple[CleanRow, int]],
        organizations: dict[str, tuple[int, str]],
        now: dt.datetime,
        result: BatchResult,
    ) -> None:
        states = load_states(customer_id for _, customer_id in matches)
        customer_rows: list[tuple[Any, ...]] = []
        consent_rows: list[tuple[Any, ...]] = []
        contacts: list[tuple[Any, ...]] = []
        tags: set[tuple[int, str]] = set()
        for row, customer_id in matches:
            state = states[customer_id]
            values = dict(state.values)
            before = dict(values)
            organization_name = state.organization_name
            if row.external_id and values["external_id"] != row.external_id:
                if values["external_id"]:
                    result.errors.append(
                        RowError(
                            row.line,
                            f"conflict: customer #{customer_id} (found by its contact points) already has "
                            f"external id {values['external_id']}, not {row.external_id}",
                            row.cells,
                        )
                    )
                    result.touched.pop(customer_id, None)
                    continue
                values["external_id"] = row.external_id
            for name in ("first_name", "last_name", "job_title", "lifecycle_stage", "time_zone"):
                value = getattr(row, name)
                if value:
                    values[name] = value
            if row.owner_id is not None:
                values["owner_id"] = row.owner_id
            if row.organization:
                values["organization_id"], organization_name = organizations[row.organization.lower()]
            if row.custom:
                values["custom_fields"] = {**values["custom_fields"], **row.custom}
            # Contact points the customer lacks, and consent flags that differ.
            have = {(c.kind, c.value): c for c in state.contacts}
            kinds_held = {c.kind for c in state.contacts}
            added: list[tuple[str, str, bool]] = []
            consent_changed = False
            for kind, values_of_kind in ((PHONE, row.phones), (EMAIL, row.emails)):
                for value in values_of_kind:
                    point = have.get((kind, value))
                    if point is None:
                        primary = kind not in kinds_held
                        kinds_held.add(kind)
                        added.append((kind, value, primary))
                        contacts.append(
                            self._new_contact(customer_id, kind, value, primary, row.consent, now)
                        )
                        continue
                    consent = dict(point.consent)
                    for name, flag in row.consent.items():
                        if CONSENT_KINDS[name] == kind and consent[name] != flag:
                            consent[name] = flag
                            consent[f"{name}_at"] = now
                            consent[f"{name}_source"] = self.source
                    if consent != point.consent:
                        consent_changed = True
                        consent_rows.append((point.pk, *(consent[c] for c in CONSENT_COLUMNS)))
            if not values["time_zone"]:
                # The phones it holds (primary first, then oldest), then the ones this row adds.
                held = [
                    c.value
                    for c in sorted(state.contacts, key=lambda c: (not c.is_primary, c.pk))
                    if c.kind == PHONE
                ]
                values["time_zone"] = time_zone_from_phones([*held, *(v for k, v, _ in added if k == PHONE)])
            if (
                added
                or values["first_name"] != before["first_name"]
                or values["last_name"] != before["last_name"]
                or organization_name != state.organization_name
            ):
                ordered = [(not c.is_primary, c.kind, 0, c.pk, c.kind, c.value) for c in state.contacts]
                ordered += [
                    (not primary, kind, 1, position, kind, value)
                    for position, (kind, value, primary) in enumerate(added)
                ]
                values["search_text"] = build_search_text(
                    first_name=values["first_name"],
                    last_name=values["last_name"],
                    organization_name=organization_name,
                    contact_values=[(kind, value) for *_, kind, value in sorted(ordered)],
                )
            if self.report_rows:
                result.written.append((row, customer_id, values["time_zone"]))
            new_tags = set(row.tags) - state.tags
            tags.update((customer_id, t) for t in new_tags)
            touched = values != before or bool(added) or bool(new_tags) or consent_changed
            if touched:
                customer_rows.append(
                    (
                        customer_id,
                        *(
                            json.dumps(values[c], sort_keys=True) if c == "custom_fields" else values[c]
                            for c in UPDATE_COLUMNS
                        ),
                    )
                )
                result.updated += 1
            else:
                result.unchanged += 1
        if customer_rows:
            self.store.update_customers(customer_rows, now)
        if consent_rows:
            self.store.update_contacts(consent_rows)
        if contacts:
            self.store.insert_contacts(contacts)
        if tags:
            self.store.add_tags(tags)


# -- storage ---------------------------------------------------------------------------------------


class OrmStore:
    """bulk_create/bulk_update through the ORM: SQLite and any database without COPY."""

    def resolve(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        by_kind: dict[str, list[str]] = defaultdict(list)
        for kind, value in keys:
            by_kind[kind].append(value)
        found: dict[tuple[str, str], int] = {}
        for chunk in _chunks(sorted(by_kind.get(EXTERNAL_ID, [])), 500):
            for external_id, pk in Customer.objects.filter(external_id__in=chunk).values_list(
                "external_id", "id"
            ):
                if external_id is not None:
                    found[(EXTERNAL_ID, external_id)] = pk
        for kind in (PHONE, EMAIL):
            for chunk in _chunks(sorted(by_kind.get(kind, [])), 500):
                query = ContactPoint.objects.filter(kind=kind, network="", value__in=chunk)
                for value, customer_id in query.values_list("value", "customer_id"):
                    found[(kind, value)] = customer_id
        return found

    def allocate_customer_ids(self, count: int) -> list[int] | None:
        return None

    def insert_customers(self, rows: list[list[Any]]) -> None:
        objects = [
            Customer(
                **{
                    name: (json.loads(value) if name == "custom_fields" else value)
                    for name, value in zip(CUSTOMER_COLUMNS[1:], row[1:], strict=True)
                }
            )
            for row in rows
        ]
        created = Customer.objects.bulk_create(objects, batch_size=500)
        for row, customer in zip(rows, created, strict=True):
            row[0] = customer.pk

    def insert_contacts(self, rows: list[tuple[Any, ...]]) -> None:
        objects = [ContactPoint(**dict(zip(CONTACT_COLUMNS, row, strict=True))) for row in rows]
        ContactPoint.objects.bulk_create(objects, batch_size=500)

    def update_customers(self, rows: list[tuple[Any, ...]], now: dt.datetime) -> None:
        objects = []
        for row in rows:
            values = dict(zip(UPDATE_COLUMNS, row[1:], strict=True))
            values["custom_fields"] = json.loads(values["custom_fields"])
            objects.append(Customer(id=row[0], updated_at=now, **values))
        Customer.objects.bulk_update(objects, [*UPDATE_COLUMNS, "updated_at"], batch_size=500)

    def update_contacts(self, rows: list[tuple[Any, ...]]) -> None:
        objects = [
            ContactPoint(id=row[0], **dict(zip(CONSENT_COLUMNS, row[1:], strict=True))) for row in rows
        ]
        ContactPoint.objects.bulk_update(objects, list(CONSENT_COLUMNS), batch_size=500)

    def add_tags(self, pairs: set[tuple[int, str]]) -> None:
        names = sorted({name for _, name in pairs})
        Tag.objects.bulk_create([Tag(name=n) for n in names], ignore_conflicts=True)
        ids = dict(Tag.objects.filter(name__in=names).values_list("name", "id"))
        through = Tag.customers.through
        through.objects.bulk_create(
            [through(customer_id=customer_id, tag_id=ids[name]) for customer_id, name in sorted(pairs)],
            ignore_conflicts=True,
            batch_size=500,
        )


def _stage(name: str, model_table: str, columns: Sequence[str]) -> str:
    # ON COMMIT DELETE ROWS and the explicit TRUNCATEs keep each batch's staging rows to itself.
    return (
        f"CREATE TEMP TABLE IF NOT EXISTS {name} ON COMMIT DELETE ROWS AS "  # noqa: S608
        f"SELECT {', '.join(columns)} FROM {model_table} WITH NO DATA"
    )


class PostgresStore:
    """New customers and contact points are COPYed straight into their tables (ids come from the
    sequence beforehand); lookups and updates COPY into temporary tables (emptied at each
    batch's commit) and apply set-based SQL."""

    def __init__(self) -> None:
        self._ready = False

    def _raw(self) -> Any:
        # The psycopg 3 cursor under Django's wrapper: COPY is not part of the DB-API.
        return connection.cursor().cursor

    def _prepare(self) -> None:
        if self._ready:
            return
        with connection.cursor() as cursor:
            for statement in (
                "CREATE TEMP TABLE IF NOT EXISTS import_keys (kind text, value text) ON COMMIT DELETE ROWS",
                # Same column types as the real tables, none of their constraints.
                _stage("import_customer_updates", "customers_customer", ("id", *UPDATE_COLUMNS)),
                _stage("import_contact_updates", "customers_contactpoint", ("id", *CONSENT_COLUMNS)),
            ):
                cursor.execute(statement)
        self._ready = True

    def _copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        self._prepare()
        with self._raw() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def resolve(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        self._copy("import_keys", ("kind", "value"), keys)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE import_keys")
            cursor.execute(
                """
                SELECT k.kind, k.value, c.id FROM import_keys k
                JOIN customers_customer c ON c.external_id = k.value
                WHERE k.kind = %s
                UNION ALL
                SELECT k.kind, k.value, p.customer_id FROM import_keys k
                JOIN customers_contactpoint p ON p.kind = k.kind AND p.network = '' AND p.value = k.value
                WHERE k.kind <> %s
                """,
                [EXTERNAL_ID, EXTERNAL_ID],
            )
            found = {(kind, value): pk for kind, value, pk in cursor.fetchall()}
            cursor.execute("TRUNCATE import_keys")
        return found

    def allocate_customer_ids(self, count: int) -> list[int] | None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('customers_customer', 'id')) FROM generate_series(1, %s)",
                [count],
            )
            return [pk for (pk,) in cursor.fetchall()]

    def _copy_into_table(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """COPY straight into a real table. A unique violation means another writer took an
        external id or contact point since resolve(): the batch's transaction is rolled back
        by the caller and the batch resolved again. The savepoint keeps the connection usable
        for that rollback whatever the caller does."""
        try:
            with transaction.atomic():
                self._copy(table, columns, rows)
        except (psycopg.errors.UniqueViolation, IntegrityError) as exc:
            raise ConcurrentChange(f"{table}: {exc}") from exc

    def insert_customers(self, rows: list[list[Any]]) -> None:
        self._copy_into_table("customers_customer", CUSTOMER_COLUMNS, rows)

    def insert_contacts(self, rows: list[tuple[Any, ...]]) -> None:
        # COPY keeps the rows' order, so a customer's second phone gets a later id than its first.
        self._copy_into_table("customers_contactpoint", CONTACT_COLUMNS, rows)

    def update_customers(self, rows: list[tuple[Any, ...]], now: dt.datetime) -> None:
        self._copy("import_customer_updates", ("id", *UPDATE_COLUMNS), rows)
        assignments = ", ".join(f"{c} = s.{c}" for c in UPDATE_COLUMNS)
        with connection.cursor() as cursor:
            # Rows only reach here when something differs (a contact point or tag counts), so
            # updated_at moves for them and for nothing else.
            cursor.execute(
                f"UPDATE customers_customer c SET {assignments}, updated_at = %s "  # noqa: S608
                "FROM import_customer_updates s WHERE c.id = s.id",
                [now],
            )
            cursor.execute("TRUNCATE import_customer_updates")

    def update_contacts(self, rows: list[tuple[Any, ...]]) -> None:
        self._copy("import_contact_updates", ("id", *CONSENT_COLUMNS), rows)
        assignments = ", ".join(f"{c} = s.{c}" for c in CONSENT_COLUMNS)
        targets = ", ".join(f"p.{c}" for c in CONSENT_COLUMNS)
        sources = ", ".join(f"s.{c}" for c in CONSENT_COLUMNS)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE customers_contactpoint p SET {assignments} FROM import_contact_updates s "  # noqa: S608
                f"WHERE p.id = s.id AND ({targets}) IS DISTINCT FROM ({sources})"
            )
            cursor.execute("TRUNCATE import_contact_updates")

    def add_tags(self, pairs: set[tuple[int, str]]) -> None:
        names = sorted({name for _, name in pairs})
        color = Tag._meta.get_field("color").get_default()
        with connection.cursor() as cursor:
            # Sorted, so two imports creating the same new tags lock them in the same order.
            cursor.execute(
                "INSERT INTO customers_tag (name, color) SELECT unnest(%s::text[]), %s ORDER BY 1 "
                "ON CONFLICT (name) DO NOTHING",
                [names, color],
            )
            cursor.execute("SELECT name, id FROM customers_tag WHERE name = ANY(%s)", [names])
            ids = dict(cursor.fetchall())
        through = Tag.customers.through._meta.db_table
        self._copy_into_table(
            through,
            ("customer_id", "tag_id"),
            ((customer_id, ids[name]) for customer_id, name in sorted(pairs)),
        )


def store_for_connection() -> Store:
    return PostgresStore() if connection.vendor == "postgresql" else OrmStore()
