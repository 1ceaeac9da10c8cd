"""Admin pieces every app shares: a paginator that never counts a big table, and the audit log."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.html import format_html

from apps.core.models import AuditEntry

# Below this many rows an exact COUNT(*) is cheap, and the planner's estimate of a small or
# freshly created table may be stale; above it the estimate is good enough for page links.
EXACT_COUNT_BELOW = 10_000
# A filtered list counts at most this many rows exactly; beyond it the planner estimates.
BOUNDED_COUNT = 10_000


def table_row_estimate(queryset: QuerySet[Any]) -> int | None:
    """PostgreSQL's own row estimate for the queryset's table (pg_class.reltuples, kept by
    ANALYZE/autovacuum); None when unknown (other databases, a table never analyzed)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(queryset.model._meta.db_table)],
        )
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


def planner_row_estimate(queryset: QuerySet[Any]) -> int | None:
    """The planner's row estimate for a filtered queryset (EXPLAIN, which does not run it)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)  # noqa: S608 - SQL built by the ORM
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def _is_unfiltered(queryset: QuerySet[Any]) -> bool:
    query = queryset.query
    return not query.where and not query.distinct and query.low_mark == 0 and query.high_mark is None


class EstimatedCountPaginator(Paginator):
    """A paginator for tables of millions of rows: never a COUNT(*) over the whole table.

    The Django admin asks `paginator.count` for page links on every changelist. Unfiltered, on
    PostgreSQL, the count is the planner's table estimate (pg_class.reltuples); filtered (or
    searched), rows are counted up to BOUNDED_COUNT with `SELECT COUNT(*) FROM (... LIMIT n)`,
    and beyond that the planner's estimate of the filtered query stands in. Page links may be a
    little off on huge tables; a page past the real end shows the admin's "no such page" notice.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return len(queryset)
        if _is_unfiltered(queryset):
            estimate = table_row_estimate(queryset)
            if estimate is not None and estimate >= EXACT_COUNT_BELOW:
                return estimate
        bounded = queryset.order_by()[: BOUNDED_COUNT + 1].count()
        if bounded <= BOUNDED_COUNT:
            return bounded
        estimate = planner_row_estimate(queryset)
        return max(estimate or 0, bounded)


class LargeTableAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Changelist settings for tables that grow to millions of rows."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False


@admin.register(AuditEntry)
class AuditEntryAdmin(LargeTableAdmin):
    """The audit log, read-only: nobody edits history, not even an admin."""

    list_display = ("at", "actor", "action", "object_type", "object_id", "short_data")
    list_filter = ("action", ("at", admin.DateFieldListFilter))
    list_select_related = ("actor",)
    search_fields = ("object_id",)
    search_help_text = 'An object id ("42") or type and id ("customers.customer 42").'
    raw_id_fields = ("actor",)
    readonly_fields = ("at", "actor", "action", "object_type", "object_id", "pretty_data")
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AuditEntry], search_term: str
    ) -> tuple[QuerySet[AuditEntry], bool]:
        # Exact matches only, so the (object_type, object_id) index answers the search.
        parts = search_term.split()
        if len(parts) == 2:
            return queryset.filter(object_type=parts[0], object_id=parts[1]), False
        if len(parts) == 1:
            return queryset.filter(object_id=parts[0]), False
        return queryset, False

    @admin.display(description="data")
    def short_data(self, obj: AuditEntry) -> str:
        text = json.dumps(obj.data, ensure_ascii=False, sort_keys=True) if obj.data else ""
        return text if len(text) <= 80 else text[:77] + "..."

    @admin.display(description="data")
    def pretty_data(self, obj: AuditEntry) -> str:
        return format_html(
            "<pre>{}</pre>", json.dumps(obj.data, ensure_ascii=False, indent=2, sort_keys=True)
        )
