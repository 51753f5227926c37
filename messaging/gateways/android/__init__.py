"""An Android phone as the gateway (SPEC §8): the open-source "SMS Gateway for Android" app
(capcom6/android-sms-gateway), through its third-party API, on the phone itself (local mode)
or through the cloud relay or a private server. The backend (``backend``), its signed webhooks
(``webhooks``, mounted at ``/webhooks/android/``), its simulator (``simulator``,
``manage.py android_gateway_simulator``).

``GROUPFLIER_SMS_GATEWAY=android`` names the backend. It is loaded on first use, so this
package can be an app (for its management command) without touching models while apps load.
"""


def __getattr__(name):
    if name == "Gateway":
        from messaging.gateways.android.backend import AndroidGateway

        return AndroidGateway
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
