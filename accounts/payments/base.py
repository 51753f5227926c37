"""The payment backend interface: one base class, one error type, chosen in settings by short
name (``sandbox``, ``stripe``) or dotted path (``groupflier.backends``).

Adding a processor is one new module here (plus its tests) with a ``BasePaymentBackend``
subclass, exported as ``Backend``. A backend keeps the card; the service keeps only what
``StoredCard`` carries.
"""

from dataclasses import dataclass

from accounts.cards import CardNumber, Expiration
from groupflier.backends import BackendError, BackendSetting


class PaymentError(BackendError):
    """The processor did not do what was asked.

    ``reason`` is the processor's short code for why (``generic_decline``,
    ``insufficient_funds``, ``expired_card``, ``processing_error``...): it becomes the
    ``DECLINED`` subtype, so it never holds card data. ``permanent`` errors are final (a
    decline, an invalid card); the others (the processor unreachable or failing for a while)
    may pass, and the same request may be retried with the same idempotency key.
    """

    def __init__(self, reason: str, *, permanent: bool):
        super().__init__(reason, permanent=permanent)


@dataclass(frozen=True)
class StoredCard:
    """What the service keeps of a card: the backend's token, brand, last four and expiry."""

    token: str
    brand: str  # the processors' names: "visa", "mastercard", "amex", "discover", ...
    last4: str
    exp_month: int
    exp_year: int

    @property
    def expiration(self) -> Expiration:
        return Expiration(self.exp_year, self.exp_month)


class BasePaymentBackend:
    """A payment processor. Every call that moves money takes an idempotency key: the same key
    with the same arguments must not move it twice, so a request that may or may not have
    reached the processor can always be sent again."""

    def __init__(self, **options):
        self.options = options

    def create_customer(self, *, email: str, idempotency_key: str) -> str:
        """A customer to keep cards under; returns the processor's customer id."""
        raise NotImplementedError

    def store_card(
        self, *, customer: str, number: CardNumber, expiration: Expiration, postal_code: str
    ) -> StoredCard:
        """Put a card on file for ``customer``; the number goes no further than the processor."""
        raise NotImplementedError

    def attach_payment_method(self, *, customer: str, token: str) -> StoredCard:
        """Put a card the client tokenised itself (``payment_method``) on file for ``customer``."""
        raise NotImplementedError

    def forget_card(self, *, customer: str, token: str) -> None:
        """Take a replaced card off file."""
        raise NotImplementedError

    def charge(
        self,
        *,
        customer: str,
        token: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        description: str,
    ) -> str:
        """Charge ``amount`` pennies to the card, the customer absent; returns the payment id."""
        raise NotImplementedError

    def refund(self, *, payment: str, amount: int, idempotency_key: str) -> str:
        """Give ``amount`` pennies of ``payment`` back; returns the refund id."""
        raise NotImplementedError


PAYMENT_BACKEND = BackendSetting(
    "GROUPFLIER_PAYMENT_BACKEND",
    options_setting="GROUPFLIER_PAYMENT_BACKEND_OPTIONS",
    base=BasePaymentBackend,
    package="accounts.payments",
    export="Backend",
)


def backend_path() -> str:
    """Names the backend that holds an account's customer and card (kept on the account): its
    class's dotted path, however the setting names it."""
    return PAYMENT_BACKEND.path()


def get_backend() -> BasePaymentBackend:
    """The configured backend, one instance per process (so it can keep connections alive)."""
    return PAYMENT_BACKEND.get()
