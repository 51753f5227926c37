from messaging.gateways.grouptexting import simulator
from messaging.gateways.simulator import SimulatorCommand


class Command(SimulatorCommand):
    help = (
        "Run the Group Texting API simulator on loopback, for developing without an account. "
        "Point GROUPTEXTING_BASE_URL at the URL it prints."
    )
    provider = simulator
