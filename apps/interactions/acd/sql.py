"""Plumbing of routing's own SQL (PostgreSQL): the connection, a server-binding cursor, table
and column names, and model instances built from result rows as the ORM builds them."""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections


def default_db() -> Any:
    """The default connection's wrapper itself: `connection` is a proxy that looks the wrapper
    up (a context-local read) on every attribute, which the hot path would pay dozens of times."""
    return connections[DEFAULT_DB_ALIAS]


def hot_cursor() -> Any:
    """A cursor for routing's own SQL. On PostgreSQL it binds parameters on the server, so
    psycopg prepares each statement once it has run prepare_threshold times (settings: the
    connection's OPTIONS) and PostgreSQL stops planning it on every offer (the candidate query
    spends longer in the planner than running). Django's own cursors bind on the client and
    never prepare, so nothing else changes. While Django logs queries (DEBUG, a test counting
    them) it is Django's own cursor: the log needs each statement's text, which psycopg does
    not keep for a prepared one.

    Built from public parts only: psycopg's own server-binding Cursor class on the connection
    Django opened (after Django's health check and thread check, as its cursor() does), wrapped
    by the connection's make_cursor so errors become django.db errors and the atomic blocks
    around it see them. tests/interactions/test_routing_sql.py checks that it binds on the server
    and that its errors are Django's."""
    db = default_db()
    if db.vendor != "postgresql" or db.queries_logged:
        return db.cursor()
    import psycopg

    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    with db.wrap_database_errors:
        return db.make_cursor(psycopg.Cursor(db.connection))


def raw_sql_enabled() -> bool:
    """Whether routing runs its own SQL (PostgreSQL) instead of compiling the querysets of
    acd.policy. Called through the module everywhere, so a test can switch it off in one place."""
    return connection.vendor == "postgresql"


def table(model: type[Any]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


_COLUMNS: dict[tuple[type[Any], str], tuple[list[str], str]] = {}


def columns(model: type[Any], alias: str) -> tuple[list[str], str]:
    """The model's concrete attnames and a select list of its columns under alias (built once)."""
    found = _COLUMNS.get((model, alias))
    if found is None:
        fields = model._meta.concrete_fields
        quote = connection.ops.quote_name
        found = _COLUMNS[(model, alias)] = (
            [f.attname for f in fields],
            ", ".join(f"{alias}.{quote(f.column)}" for f in fields),
        )
    return found


def _converters(model: type[Any]) -> list[tuple[int, list[Any], Any]]:
    found = []
    for index, f in enumerate(model._meta.concrete_fields):
        col = f.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(col) + f.get_db_converters(connection)
        if converters:
            found.append((index, converters, col))
    return found


_CONVERTERS: dict[tuple[str, type[Any]], list[tuple[int, list[Any], Any]]] = {}


def instance_from_row(model: type[Any], names: list[str], values: tuple[Any, ...] | list[Any]) -> Any:
    """A model instance from a row of all its concrete columns, as the ORM would build it."""
    db = default_db()
    key = (db.vendor, model)
    converters = _CONVERTERS.get(key)
    if converters is None:
        converters = _CONVERTERS[key] = _converters(model)
    if converters:
        values = list(values)
        for index, functions, col in converters:
            for function in functions:
                values[index] = function(values[index], col, db)
    return model.from_db(db.alias, names, values)
