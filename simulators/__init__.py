"""Local stand-ins for the providers the service talks to, for development and tests.

Each runs on loopback with the standard library only, so it needs neither Django nor an
account: ``python manage.py grouptexting_simulator`` or, from a test, start it in a thread.
"""
