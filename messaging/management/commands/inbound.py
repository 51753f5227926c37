from django.core.management.base import BaseCommand, CommandError

from groupflier import phones
from groupflier.api.errors import ApiError
from messaging.inbound import Inbound, receive_and_text_back


class Command(BaseCommand):
    help = "Feed in a text as if it had arrived from a member's phone through the gateway."

    def add_arguments(self, parser):
        parser.add_argument("text", help="The text, e.g. 'Dinner at 6' or '*who' or 'STOP'")
        parser.add_argument("--from", dest="sender", required=True, help="The member's number")
        parser.add_argument("--to", dest="to_number", default="", help="The group number texted")

    def handle(self, *args, text, sender, to_number, **options):
        # A gateway would never deliver these; say so rather than have the text ignored.
        for flag, number in (("--from", sender), ("--to", to_number)):
            if number:
                try:
                    phones.normalize(number)
                except ApiError:
                    raise CommandError(f"{flag} {number!r} is not a phone number") from None
        inbound = Inbound(sender=sender, to_number=to_number, text=text, gateway="cli")
        # The console gateway has no webhook answer to carry the reply: it is texted back.
        reply = receive_and_text_back(inbound)
        self.stdout.write(f"Reply texted to {sender}: {reply}" if reply else "No reply.")
