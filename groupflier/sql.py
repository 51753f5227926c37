"""Plain SQL for the few statements every poll runs (groups.lookup, messaging.actions), and
the row pipeline's per-batch statements.

Building and compiling an ORM query costs a few thousand Python calls, more than the query
itself; these statements are written once as SQL instead, and their values go through the
same conversions the ORM would apply (SQLite's booleans and datetimes in the embedded mode,
a phone number's parsing), so what comes back is what the ORM would have given.
"""

import functools

from django.db import connection
from phonenumber_field.modelfields import PhoneNumberField

from groupflier import phones


def for_update(of: str = "") -> str:
    """`` FOR UPDATE`` (of the table aliased ``of`` alone), to end a SELECT that takes its
    rows' locks; nothing on SQLite (the embedded mode), whose transactions take the whole
    database's write lock instead."""
    if not connection.features.has_select_for_update:
        return ""
    return f" FOR UPDATE OF {of}" if of else " FOR UPDATE"


def together(cursor, before: list[tuple[str, list]], statement: str, params: list) -> None:
    """Run the writes ``before`` (INSERT, UPDATE or DELETE statements, each with its
    parameters) and then ``statement``, whose rows ``cursor`` then holds: on PostgreSQL as one
    statement, the writes in its WITH clause, which saves a round trip to the server for each
    (they run to completion whether or not ``statement`` reads them, all seeing the database
    as the statement began: give only writes that do not depend on one another); one after
    another on SQLite (the embedded mode), which knows no writes in WITH."""
    if connection.vendor != "postgresql":
        for each, each_params in before:
            cursor.execute(each, each_params)
        cursor.execute(statement, params)
        return
    writes = ", ".join(f"w{n} AS ({each} RETURNING 1)" for n, (each, _) in enumerate(before))
    cursor.execute(
        f"WITH {writes} {statement}" if before else statement,
        [*(value for _, each_params in before for value in each_params), *params],
    )


def placeholders(values) -> str:
    """``%s, %s, ...``: one parameter for each of ``values``, for an ``IN (...)`` list."""
    return ", ".join(["%s"] * len(values))


@functools.cache
def columns(model, names: tuple[str, ...] | None = None) -> tuple:
    """``model``'s columns (all of them, or those of the fields ``names``), each with the
    converters the ORM applies to its values."""
    fields = model._meta.concrete_fields
    if names is not None:
        fields = [model._meta.get_field(name) for name in names]
    found = []
    for field in fields:
        col = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if isinstance(field, PhoneNumberField):
            converters = [_phone_number]  # what its own converter gives, parsed once
        found.append((col, tuple(converters)))
    return tuple(found)


def _phone_number(value, expression, connection):
    return phones.parsed(value) if value else value


def select_list(model, alias: str, names: tuple[str, ...] | None = None) -> str:
    """``alias.column, ...`` for ``columns(model, names)``."""
    return ", ".join(
        f"{alias}.{connection.ops.quote_name(col.target.column)}"
        for col, _ in columns(model, names)
    )


@functools.cache
def _needs_conversion(model, names: tuple[str, ...] | None) -> bool:
    return any(converters for _, converters in columns(model, names))


def converted(values, model, names: tuple[str, ...] | None = None) -> list:
    """``values`` read for ``columns(model, names)``, as the ORM would give them."""
    if not _needs_conversion(model, names):  # PostgreSQL's values mostly come as they are
        return list(values)
    out = []
    for value, (col, converters) in zip(values, columns(model, names), strict=True):
        for convert in converters:
            value = convert(value, col, connection)
        out.append(value)
    return out


def instance(model, values):
    """A ``model`` instance from the values of all its columns, as the ORM builds one."""
    names = [col.target.attname for col, _ in columns(model)]
    return model.from_db(connection.alias, names, converted(values, model))
