"""The full card number is never stored, logged or echoed (SPEC §5): after cards go through
/account/set and /account/charge, neither a dump of the whole database nor any log record at
DEBUG holds one, with either backend."""

import logging
import os
import subprocess

import pytest
from django.db import connection
from django.views.debug import SafeExceptionReporterFilter

from accounts.models import Account
from accounts.views import AccountPassword, AccountSet
from tests.accounts_helpers import expiration
from tests.conftest import assert_error, assert_ok, login_as, make_active_group
from tests.stripe_stub import SECRET_KEY, StripeStub

OWNER = "+14155550101"
TAKEN = ["4242 4242 4242 4242", "5555-5555-5555-4444", "378282246310005"]
REFUSED = ["6011111111111117", "4242424242424241", "4000000000000002", "4000000000009995"]


def digits(number: str) -> str:
    return number.replace(" ", "").replace("-", "")


def dump_database() -> str:
    """pg_dump of the test database: every table, every row, as the server has them."""
    db = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    command = ["pg_dump", "--no-owner", "-h", db["HOST"] or "127.0.0.1", "-U", db["USER"]]
    if db.get("PORT"):
        command += ["-p", str(db["PORT"])]
    result = subprocess.run(
        [*command, db["NAME"]], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout


@pytest.fixture(params=["sandbox", "stripe"])
def backend(request, settings):
    if request.param == "sandbox":
        yield None
        return
    stub = StripeStub()
    settings.GROUPFLIER_PAYMENT_BACKEND = "accounts.payments.stripe.StripeBackend"
    settings.GROUPFLIER_PAYMENT_BACKEND_OPTIONS = {
        "secret_key": SECRET_KEY,
        "api_base": stub.start(),
        "max_network_retries": 0,
    }
    yield stub
    stub.stop()


@pytest.fixture
def every_logger_at_debug(caplog):
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_no_card_number_in_the_database_the_logs_or_the_answers(
    api, transactional_db, backend, every_logger_at_debug
):
    assert connection.vendor == "postgresql"
    make_active_group("Family", "Mom", OWNER, [("Dad", "+14155550102")])
    sid = login_as(OWNER)
    answers = []

    def call(path, **params):
        response = api(path, sid=sid, **params)
        answers.append(response.content.decode())
        return response

    card = dict(email="mom@example.com", zip="94110", cc_expiration=expiration())
    # Refused by format, by brand, by the processor when kept or when charged, and taken.
    for number in REFUSED + TAKEN:
        call("account/set", cc_number=number, **card)
        call("account/charge", amount=1000)
    assert_error(
        api("account/set", via="query", method="get", sid=sid, cc_number=REFUSED[0], **card),
        "INVALID_CC_TYPE",
    )
    assert_ok(api("account/set", via="json", sid=sid, cc_number=TAKEN[0], **card))
    assert_ok(call("account/charge", amount=2000, idempotency_key="k"))

    dump = dump_database()
    logs = "\n".join(
        [every_logger_at_debug.text]
        + [
            f"{record.getMessage()} {record.args} {record.exc_text}"
            for record in every_logger_at_debug.records
        ]
    )
    for number in TAKEN + REFUSED:
        for form in {number, digits(number)}:
            assert form not in dump
            assert form not in logs
            assert all(form not in answer for answer in answers)

    # What is kept is there: the dump is of the data these calls wrote.
    account = Account.objects.get(member__number=OWNER)
    assert account.card_token and account.card_token in dump
    assert f"\t{account.card_last4}\t" in dump
    assert "Visa ending in 4242" in dump
    if backend is not None:
        # The number did reach the processor, and the library's request log ran, redacted.
        sent = {call.form.get("card[number]") for call in backend.calls_to("/v1/payment_methods")}
        assert {digits(number) for number in TAKEN} <= sent
        assert "[redacted]" in logs


@pytest.mark.django_db
def test_error_reports_leave_card_numbers_and_passwords_out(rf, family):
    """Django's error reports (mail to admins, error trackers) show a request's POST data."""
    reporter = SafeExceptionReporterFilter()
    card = {"email": "m@example.com", "zip": "1", "cc_expiration": expiration()}
    for view, secret in [
        (AccountSet, {"cc_number": TAKEN[0]}),
        (AccountPassword, {"password": "pw"}),
    ]:
        request = rf.post("/" + view.path, {"sid": family.owner.sid, **card, **secret})
        view.as_view()(request)
        shown = reporter.get_post_parameters(request)
        for name in [*secret, "sid"]:
            assert shown[name] == reporter.cleansed_substitute
        assert shown["email"] == "m@example.com"
