from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from groupflier import backups


class Command(BaseCommand):
    help = (
        "Replace the database's contents with a backup made by `manage.py backup`. Stop web, "
        "worker, scheduler and beat first; run `manage.py migrate` after when the backup is "
        "older than the code."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The backup file")
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for a confirmation",
        )

    def handle(self, *args, path, interactive=True, **options):
        if not Path(path).is_file():
            raise CommandError(f"No backup at {path}")
        if interactive:
            try:
                answer = input(f"Replace everything in the database with {path}? Type 'yes': ")
            except EOFError:  # no terminal to answer from: --noinput says it on purpose
                answer = ""
            if answer.strip() != "yes":
                raise CommandError("Restore cancelled (--noinput restores without asking)")
        try:
            backups.restore(Path(path))
        except (backups.BackupError, OSError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Restored from {path}")
