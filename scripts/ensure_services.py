"""Make sure the PostgreSQL and Redis the tests use are up.

A local server that is installed but stopped is started; otherwise this names what is
missing and exits non-zero, so the test run stops with a clear reason.
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host or "127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def start_postgresql() -> bool:
    if not shutil.which("pg_ctlcluster"):
        return False
    for version_dir in sorted(glob.glob("/etc/postgresql/*")):
        version = os.path.basename(version_dir)
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            check=False,
        )
    return True


def start_redis() -> bool:
    if not shutil.which("redis-server"):
        return False
    os.makedirs("/var/lib/redis", exist_ok=True)
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
        ],
        check=False,
    )
    return True


def ensure(name: str, url: str, default_port: int, start, install_hint: str) -> bool:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    if reachable(host, port):
        return True
    if host in LOCAL_HOSTS and start():
        for _ in range(30):
            if reachable(host, port):
                print(f"Started {name} on {host}:{port}")
                return True
            time.sleep(1)
    print(
        f"{name} is not reachable at {host}:{port} and could not be started here. {install_hint}",
        file=sys.stderr,
    )
    return False


def ensure_database(url: str) -> None:
    """Create the database DATABASE_URL names if the server lacks it (tests make their own
    test_ copy, but `makemigrations --check` looks at this one)."""
    import psycopg
    from psycopg import sql

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"Created database {name}")


def main() -> int:
    ok = ensure(
        "PostgreSQL",
        os.environ["DATABASE_URL"],
        5432,
        start_postgresql,
        "Install PostgreSQL (e.g. apt-get install postgresql) or set DATABASE_URL.",
    )
    ok &= ensure(
        "Redis",
        os.environ["REDIS_URL"],
        6379,
        start_redis,
        "Install Redis (e.g. apt-get install redis-server) or set REDIS_URL.",
    )
    if ok:
        ensure_database(os.environ["DATABASE_URL"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
