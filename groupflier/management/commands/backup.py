from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from groupflier import backups


class Command(BaseCommand):
    help = (
        "Back the database up to a file: pg_dump's custom format on PostgreSQL, a SQLite copy "
        "made with SQLite's backup API in the embedded mode. Safe while the service runs."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "path",
            nargs="?",
            help="The file to write (default: groupflier-YYYYmmdd-HHMMSS.dump or .sqlite3)",
        )

    def handle(self, *args, path=None, **options):
        if path is None:
            suffix = "sqlite3" if backups.is_sqlite() else "dump"
            path = f"groupflier-{timezone.now():%Y%m%d-%H%M%S}.{suffix}"
        try:
            written = backups.backup(Path(path))
        except (backups.BackupError, OSError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Backed up to {written} ({written.stat().st_size:,} bytes)")
