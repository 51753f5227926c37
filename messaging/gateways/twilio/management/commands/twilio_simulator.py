import argparse

from django.core.management.base import BaseCommand

from messaging.gateways.twilio import simulator


class Command(BaseCommand):
    help = (
        "Run the Twilio Messages API simulator on loopback, for developing without an account. "
        "Point TWILIO_API_BASE at the URL it prints."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        simulator.build_parser(parser)

    def handle(self, *args, **options):
        def write(line):
            # At once, also into a pipe or a file: whoever started it reads its address there.
            self.stdout.write(line)
            self.stdout.flush()

        twilio = simulator.from_options(
            argparse.Namespace(**options), log=None if options["quiet"] else write
        )
        simulator.serve(twilio, write=write)
