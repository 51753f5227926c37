import argparse

from django.core.management.base import BaseCommand

from messaging.gateways.android import simulator


class Command(BaseCommand):
    help = (
        "Run a simulator of the SMS Gateway for Android app's API (its phone server and cloud "
        "relay) on loopback, for developing without a phone. Point ANDROID_GATEWAY_URL at the "
        "URL it prints."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        simulator.build_parser(parser)

    def handle(self, *args, **options):
        def write(line):
            # At once, also into a pipe or a file: whoever started it reads its address there.
            self.stdout.write(line)
            self.stdout.flush()

        android = simulator.from_options(
            argparse.Namespace(**options), log=None if options["quiet"] else write
        )
        simulator.serve(android, write=write)
