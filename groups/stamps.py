"""The database triggers that keep ``HistoryStamp`` (see its docstring), for the migrations.

Migrations call ``create`` and ``drop`` with the statements as they were when written: change
what a trigger does only in a new migration that drops the old triggers and creates the new.

A trigger names the groups whose history a statement changed and adds one to each of their
stamps (creating the row at 1). PostgreSQL runs it once per statement, over the statement's
changed rows (a transition table named ``changed``; for an update also ``before``), so a batch
of 250 deliveries costs one stamp update; SQLite, the embedded mode, once per row (``NEW`` or
``OLD`` in the statements below). The groups are taken in order of their ids, so that two
statements changing the same groups cannot deadlock on their stamps.
"""

STAMP = "groups_historystamp"

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {stamp} AS s (group_id, value)
    SELECT DISTINCT group_id, 1 FROM ({groups}) AS changed_groups
    WHERE group_id IS NOT NULL ORDER BY group_id
    ON CONFLICT (group_id) DO UPDATE SET value = s.value + 1;
    RETURN NULL;
END $$
"""
_PG_TRIGGER = (
    "CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {tables}"
    " FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
)
_PG_TRANSITION_TABLES = {
    "INSERT": "NEW TABLE AS changed",
    "UPDATE": "OLD TABLE AS before NEW TABLE AS changed",
    "DELETE": "OLD TABLE AS changed",
}
_SQLITE_TRIGGER = """
CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW {when} BEGIN
    INSERT INTO {stamp} (group_id, value)
    SELECT group_id, 1 FROM ({groups}) WHERE group_id IS NOT NULL
    ON CONFLICT (group_id) DO UPDATE SET value = value + 1;
END
"""
_SQLITE_ROW = {"INSERT": "NEW", "UPDATE": "NEW", "DELETE": "OLD"}


def create(schema_editor, table: str, changes: dict[str, tuple[str, str]], update_when="") -> None:
    """Triggers on ``table``: ``changes`` maps each event (INSERT, UPDATE, DELETE) to the SQL
    that selects ``group_id`` of the groups it changed, for PostgreSQL (from ``changed``) and
    for SQLite (with ``{row}`` for NEW or OLD). SQLite takes an update only when
    ``update_when`` holds, when given (PostgreSQL's statement compares ``before`` itself)."""
    vendor = schema_editor.connection.vendor
    for event in ("INSERT", "UPDATE", "DELETE"):
        name = f"{table}_stamp_{event.lower()}"
        postgresql, sqlite = changes[event]
        if vendor == "postgresql":
            schema_editor.execute(
                _PG_FUNCTION.format(name=name, stamp=STAMP, groups=postgresql), params=None
            )
            schema_editor.execute(
                _PG_TRIGGER.format(
                    name=name,
                    event=event,
                    table=table,
                    tables=_PG_TRANSITION_TABLES[event],
                    function=name,
                ),
                params=None,
            )
        elif vendor == "sqlite":
            when = update_when if event == "UPDATE" else ""
            row = _SQLITE_ROW[event]
            schema_editor.execute(
                _SQLITE_TRIGGER.format(
                    name=name,
                    event=event,
                    table=table,
                    when=f"WHEN {when.format(row=row)}" if when else "",
                    stamp=STAMP,
                    groups=sqlite.format(row=row),
                ),
                params=None,
            )
        else:
            raise NotImplementedError(f"No history stamp triggers for {vendor}")


def drop(schema_editor, table: str) -> None:
    vendor = schema_editor.connection.vendor
    for event in ("insert", "update", "delete"):
        name = f"{table}_stamp_{event}"
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}", params=None)
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {name}()", params=None)
        else:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}", params=None)
