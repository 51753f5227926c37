"""Backup and restore of the database, in the mode the service runs in.

PostgreSQL: ``pg_dump``'s custom format, restored with ``pg_restore`` (which must be of the
server's major version or newer); the password goes through the environment (``PGPASSWORD``),
never the command line, where ``ps`` shows it. SQLite (the embedded mode): SQLite's own
backup API, which copies a consistent snapshot while other processes keep writing (a plain
file copy of a WAL database can miss what is still in the ``-wal`` file).
"""

import os
import sqlite3
import subprocess
from pathlib import Path

from django.db import connections


class BackupError(Exception):
    pass


def _settings(alias: str) -> dict:
    return connections[alias].settings_dict


def is_sqlite(alias: str = "default") -> bool:
    return _settings(alias)["ENGINE"].endswith("sqlite3")


def _pg_args_and_env(alias: str) -> tuple[list[str], dict]:
    db = _settings(alias)
    args = ["--dbname", db["NAME"]]
    if db.get("HOST"):
        args += ["--host", str(db["HOST"])]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", db["USER"]]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return args, env


def _run(command: list[str], env: dict) -> None:
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BackupError(
            f"{command[0]} is not installed (the PostgreSQL client tools, e.g. postgresql-client)"
        ) from None
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-500:]}")


def _sqlite_copy(source_path, target_path) -> None:
    source, target = sqlite3.connect(source_path), sqlite3.connect(target_path)
    try:
        with target:
            source.backup(target)
    finally:
        source.close()
        target.close()


def backup(path: Path, alias: str = "default") -> Path:
    """Write the whole database to ``path``."""
    path = Path(path)
    if is_sqlite(alias):
        _sqlite_copy(_settings(alias)["NAME"], path)
        return path
    args, env = _pg_args_and_env(alias)
    _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(path), *args], env)
    return path


def restore(path: Path, alias: str = "default") -> None:
    """Replace the database's contents with the backup at ``path``. Stop the web, worker and
    beat processes first: they would write in between."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"No backup at {path}")
    connections[alias].close()
    if is_sqlite(alias):
        _sqlite_copy(path, _settings(alias)["NAME"])
        return
    args, env = _pg_args_and_env(alias)
    # One transaction: a restore that fails half-way leaves the database as it was.
    _run(
        ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
         "--exit-on-error", *args, str(path)],
        env,
    )  # fmt: skip
