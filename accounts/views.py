from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from accounts import actions, billing
from accounts.params import Amount, CardExpiration, CardNumber
from groupflier.api.endpoint import Endpoint, SessionRule
from groupflier.api.errors import ApiError, ErrorType
from groupflier.api.params import Email, Secret, Text
from groupflier.api.schema import FLAG, INTEGER, STRING, nullable

ACCOUNT_TYPE = {"type": "string", "enum": ["F", "T", "P"]}


# Django's error reports leave these out of the request they show.
@method_decorator(sensitive_post_parameters("sid", "cc_number", "cc_expiration"), name="dispatch")
class AccountSet(Endpoint):
    path = "account/set"
    summary = "Set the account information"
    description = (
        "Sets the billing email and zip and, optionally, the card on file. A card is "
        "`cc_number` with `cc_expiration` (YYYY-MM), both or neither; spaces and dashes in the "
        "number are ignored. Only Visa, Mastercard and American Express are taken. The number "
        "goes to the payment processor and is not kept: only the brand, last four digits, "
        "expiry and the processor's token are. Clients that tokenise cards with the "
        "processor's SDK pass `payment_method` (the token) instead (an addition); passing both "
        "is a 400. `cc_description` describes the card on file (null when there is none). "
        "A card the processor refuses to keep answers `DECLINED` with its reason, and an "
        "account that submits more cards than its hourly budget `THROTTLE` (additions)."
    )
    session = SessionRule.REQUIRED
    params = [
        Email("email", description="Email address"),
        Text("zip", max_length=20, description="Billing zip"),
        CardExpiration(
            "cc_expiration",
            partner="cc_number",
            description="Credit card expiration in the format YYYY-MM",
        ),
        CardNumber("cc_number", partner="cc_expiration", description="Credit card number"),
        Text(
            "payment_method",
            required=False,
            max_length=100,
            echo=False,
            description="A card token from the payment processor's SDK, instead of cc_number",
        ),
    ]
    errors = (ErrorType.NO_ACCOUNT, ErrorType.DECLINED, ErrorType.THROTTLE)
    returns = {"cc_description": nullable(STRING)}

    def act(self, request, args):
        if args.payment_method and args.cc_number:
            raise ApiError(
                ErrorType.BAD_REQUEST,
                "Pass cc_number with cc_expiration, or payment_method, not both",
                http_status=400,
            )
        card = None
        if args.cc_number:
            card = actions.NewCard(number=args.cc_number, expiration=args.cc_expiration)
        elif args.payment_method:
            card = actions.NewCard(payment_method=args.payment_method)
        account = actions.update_account(
            request.member, email=args.email, zip_code=args.zip, card=card
        )
        return {"cc_description": account.card_description or None}


@method_decorator(sensitive_post_parameters("sid", "password"), name="dispatch")
class AccountPassword(Endpoint):
    path = "account/password"
    summary = "Set the account password"
    description = (
        "Sets the password /member/login accepts in place of a PIN. It is kept as a salted hash."
    )
    session = SessionRule.REQUIRED
    params = [Secret("password", description="The password")]
    errors = (ErrorType.NO_ACCOUNT,)

    def act(self, request, args):
        actions.set_password(request.member, args.password)


class AccountBalance(Endpoint):
    path = "account/balance"
    summary = "Get the current account balance"
    description = (
        "The balance in pennies, whether the account is suspended (a trial or paid account at "
        "zero or below) and its type: 'F'ree, 'T'rial or 'P'aid. Members who have created no "
        "group have no account (`NO_ACCOUNT`, an addition)."
    )
    session = SessionRule.REQUIRED
    errors = (ErrorType.NO_ACCOUNT,)
    returns = {"balance": INTEGER, "suspended": FLAG, "type": ACCOUNT_TYPE}

    def act(self, request, args):
        return actions.balance_of(actions.account_of(request.member))


class AccountCharge(Endpoint):
    path = "account/charge"
    summary = "Charge the account credit card"
    description = (
        "Charges `amount` pennies (1,000 to 100,000) to the card on file and credits the "
        "balance; the first charge makes a trial account a paid one. A retried request does "
        "not charge twice: a request repeating an `idempotency_key` (an addition; reusing one "
        "for another amount is a 400) answers the first one's outcome, and without a key a "
        "request for the same amount to the same card shortly after one that succeeded or is "
        "under way is taken as its retry. `DECLINED` carries the processor's reason "
        "(`generic_decline`, `insufficient_funds`, `processing_error`, ...). The answer "
        "includes the new `balance` (an addition)."
    )
    session = SessionRule.REQUIRED
    params = [
        Amount("amount", description="The amount to charge in pennies"),
        Text(
            "idempotency_key",
            required=False,
            max_length=100,
            echo=False,
            description="Any unique string; a request repeating it does not charge again",
        ),
    ]
    errors = (
        ErrorType.NO_ACCOUNT,
        ErrorType.NO_CREDIT_CARD,
        ErrorType.EXPIRED_CREDIT_CARD,
        ErrorType.DECLINED,
    )
    returns = {"balance": INTEGER}

    def act(self, request, args):
        account = actions.account_of(request.member)
        billing.charge_account(account, args.amount, idempotency_key=args.idempotency_key or "")
        account.refresh_from_db(fields=["balance"])
        return {"balance": account.balance}
