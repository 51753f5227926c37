"""Twilio Programmable Messaging (SPEC §8): the backend (``backend``), its text rules
(``text``), its webhooks (``webhooks``, mounted at ``/webhooks/twilio/``), its simulator
(``simulator``, ``manage.py twilio_simulator``).

``GROUPFLIER_SMS_GATEWAY=messaging.gateways.twilio.Gateway`` names the backend. It is loaded
on first use, so this package can be an app (for its management command) without touching
models while apps load.
"""


def __getattr__(name):
    if name == "Gateway":
        from messaging.gateways.twilio.backend import TwilioGateway

        return TwilioGateway
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
