from messaging.gateways.simulator import SimulatorCommand
from messaging.gateways.twilio import simulator


class Command(SimulatorCommand):
    help = (
        "Run the Twilio Messages API simulator on loopback, for developing without an account. "
        "Point TWILIO_API_BASE at the URL it prints."
    )
    provider = simulator
