from messaging.gateways.android import simulator
from messaging.gateways.simulator import SimulatorCommand


class Command(SimulatorCommand):
    help = (
        "Run a simulator of the SMS Gateway for Android app's API (its phone server and cloud "
        "relay) on loopback, for developing without a phone. Point ANDROID_GATEWAY_URL at the "
        "URL it prints."
    )
    provider = simulator
