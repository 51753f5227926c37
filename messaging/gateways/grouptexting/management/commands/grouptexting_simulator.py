import argparse

from django.core.management.base import BaseCommand

from messaging.gateways.grouptexting import simulator as grouptexting


class Command(BaseCommand):
    help = (
        "Run the Group Texting API simulator on loopback, for developing without an account. "
        "Point GROUPTEXTING_BASE_URL at the URL it prints."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        grouptexting.build_parser(parser)

    def handle(self, *args, **options):
        log = None if options["quiet"] else self.stdout.write
        simulator = grouptexting.from_options(argparse.Namespace(**options), log=log)
        grouptexting.serve(simulator, write=self.stdout.write)
