"""Group Texting (app.grouptexting.com): its HTTP SMS API (``backend``), text rules (``text``),
keyword and inbox webhooks (``webhooks``) and simulator (``simulator``)."""


def __getattr__(name):
    # Lazily: Django loads this package as an app, before the backend's imports may run.
    if name in ("Gateway", "GroupTextingGateway"):
        from messaging.gateways.grouptexting.backend import GroupTextingGateway

        return GroupTextingGateway
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
