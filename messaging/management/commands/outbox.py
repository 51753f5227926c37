import json

from django.core.management.base import BaseCommand, CommandError

from groupflier import phones
from groupflier.api.errors import ApiError
from messaging.models import OutboxMessage


class Command(BaseCommand):
    help = "Print the texts the console gateway has sent, newest last."

    def add_arguments(self, parser):
        parser.add_argument("--to", help="Only texts to this number (any common format)")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="One JSON array, for scripts"
        )
        parser.add_argument("--limit", type=int, default=50, help="At most this many (default 50)")

    def handle(self, *args, to=None, as_json=False, limit=50, **options):
        texts = OutboxMessage.objects.all()
        if to:
            try:
                texts = texts.filter(to=phones.normalize(to))
            except ApiError:
                raise CommandError(f"--to {to!r} is not a phone number") from None
        newest = list(texts.order_by("-id")[:limit])[::-1]
        if as_json:
            self.stdout.write(json.dumps([_as_dict(text) for text in newest]))
            return
        for text in newest:
            sent = f"{text.created_at:%Y-%m-%d %H:%M:%S}"
            self.stdout.write(f"{sent} {text.from_number or '-'} -> {text.to}: {text.text}")


def _as_dict(text: OutboxMessage) -> dict:
    return {
        "id": text.pk,
        "to": text.to,
        "from": text.from_number,
        "text": text.text,
        "time": int(text.created_at.timestamp()),
    }
