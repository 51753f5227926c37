"""What the rate tests of providers that limit each sending number share: texts handed over
from several threads at once, and their arrivals at the simulator per sending number."""

import threading

from django.db import connection

from messaging.gateways.base import GatewayError


def send_from_threads(gateway, to: str, sends: list[str]) -> list[GatewayError]:
    """Hand ``gateway`` one text to ``to`` from each number of ``sends``, each on a thread of
    its own, all at once; the errors they met."""
    errors = []

    def send(from_number, n):
        try:
            gateway.send_part(to, f"text {n}", from_number=from_number)
        except GatewayError as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread's own, opened by the pause checks

    threads = [threading.Thread(target=send, args=(f, n)) for n, f in enumerate(sends)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def assert_a_second_apart(messages: list[dict], numbers, each: int) -> None:
    """``each`` texts arrived from each of ``numbers``, a second or more apart."""
    for number in numbers:
        arrivals = sorted(m["time"] for m in messages if m["from"] == number)
        assert len(arrivals) == each, number
        assert all(b - a >= 1.0 for a, b in zip(arrivals, arrivals[1:], strict=False)), number
