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
        log = None if options["quiet"] else self.stdout.write
        twilio = simulator.from_options(argparse.Namespace(**options), log=log)
        simulator.serve(twilio, write=self.stdout.write)
