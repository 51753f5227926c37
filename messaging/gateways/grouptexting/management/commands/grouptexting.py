"""The Group Texting account calls, with the GROUPTEXTING_* settings' credentials.

    manage.py grouptexting credits/check
    manage.py grouptexting keyword/check WORD
    manage.py grouptexting credits/buy --credits 500 --first-name ... (card number asked)
    manage.py grouptexting keyword/rent WORD --first-name ...           (card number asked)
    manage.py grouptexting keyword/setup WORD [--group G] [--autoreply T] [--email E] [--url U]

The card number and security code are always asked without echo: as options they would
stay in the shell history and the process list. They are never printed or logged.
"""

from getpass import getpass

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from messaging.gateway_tasks import refresh_credits
from messaging.gateways.base import GatewayError
from messaging.gateways.grouptexting.backend import Card, GroupTextingGateway

CARD_OPTIONS = (
    ("--first-name", "first_name", "first name on the card"),
    ("--last-name", "last_name", "last name on the card"),
    ("--address", "address", "billing street address"),
    ("--city", "city", "billing city"),
    ("--state", "state", "billing state or province"),
    ("--zip", "zip", "billing zip code"),
    ("--country", "country", "billing country"),
    ("--type", "type", "card type: MC, Visa, AX, DS or JCB"),
    ("--exp-month", "exp_month", "expiry month, two digits"),
    ("--exp-year", "exp_year", "expiry year, two digits"),
)


def add_card_arguments(parser):
    for flag, dest, help_text in CARD_OPTIONS:
        parser.add_argument(flag, dest=dest, required=True, help=help_text)


class Command(BaseCommand):
    help = "Call the Group Texting account API: credits, keywords."

    def add_arguments(self, parser):
        calls = parser.add_subparsers(dest="call", required=True, metavar="CALL")
        calls.add_parser("credits/check", help="the credit balance (also stored for the admin)")
        check = calls.add_parser("keyword/check", help="whether a keyword is available")
        check.add_argument("keyword")
        buy = calls.add_parser("credits/buy", help="buy credits with a card")
        buy.add_argument("--credits", type=int, required=True)
        add_card_arguments(buy)
        rent = calls.add_parser("keyword/rent", help="rent a keyword with a card")
        rent.add_argument("keyword")
        add_card_arguments(rent)
        setup = calls.add_parser("keyword/setup", help="configure a rented keyword")
        setup.add_argument("keyword")
        setup.add_argument("--group", help="add those who text the keyword to this group")
        setup.add_argument("--autoreply", help="the text sent back (at most 160 characters)")
        setup.add_argument("--email", help="forward incoming texts to this address")
        setup.add_argument("--url", help="call this URL when the keyword is received")

    def handle(self, *args, call, **options):
        try:
            gateway = GroupTextingGateway()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        try:
            if call == "credits/check":
                credits = refresh_credits(gateway)
                if credits is None:
                    raise CommandError("The credit check failed (see the log)")
                self.stdout.write(f"credits/check: {credits} credits")
                return
            if call == "keyword/check":
                answer = gateway.check_keyword(options["keyword"])
            elif call == "credits/buy":
                answer = gateway.buy_credits(self._card(options), options["credits"])
            elif call == "keyword/rent":
                answer = gateway.rent_keyword(self._card(options), options["keyword"])
            else:
                answer = gateway.setup_keyword(
                    options["keyword"],
                    group=options["group"],
                    autoreply=options["autoreply"],
                    email=options["email"],
                    url=options["url"],
                )
        except GatewayError as exc:
            raise CommandError(f"{call}: {exc.reason}") from None
        if not answer.ok:
            raise CommandError(str(answer))
        self.stdout.write(str(answer))

    def _card(self, options) -> Card:
        return Card(
            **{dest: options[dest] for _, dest, _ in CARD_OPTIONS},
            number=getpass("Card number: "),
            code=getpass("Security code: "),
        )
