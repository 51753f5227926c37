"""What every provider's end-to-end tests share: waiting for a whole fan-out to end (or for its
receipts), and the worker killed in the middle of one, counted at the provider's simulator."""

import signal
import time
from collections import Counter

from messaging import actions
from messaging.models import Delivery
from messaging.tasks import sweep_deliveries
from tests.workers import running_worker, stop, wait_until

Status = Delivery.Status


def all_final(expected: int):
    def check():
        return (
            Delivery.objects.count() == expected
            and not Delivery.objects.exclude(status__in=Delivery.FINAL).exists()
        )

    return check


def all_receipted(expected: int):
    """Each of the ``expected`` parts has had its receipt: none is queued, sending or sent."""

    def check():
        waiting = Delivery.objects.filter(status__in=[Status.QUEUED, Status.SENDING, Status.SENT])
        return Delivery.objects.count() == expected and not waiting.exists()

    return check


def kill_a_worker_mid_fan_out(group, simulator, env, received, log, *, concurrency=2):
    """Post to ``group``, SIGKILL the workers once the simulator has 150 texts, let new ones
    and the sweep finish, and check at the simulator (``received()``: a Counter of the numbers
    that got the text) that nothing was lost or sent twice, and that at most one part a killed
    process was handing over is unknown."""
    size = group.memberships.count() - 1
    owner = group.memberships.get(member_id=group.owner_id)
    simulator.response_delay = 0.003  # hand-offs long enough to be killed in the middle of
    with running_worker(concurrency=concurrency, log_path=log, **env) as worker:
        actions.post(group, owner, "Gates open at 6")
        wait_until(
            lambda: len(simulator.messages) >= 150,
            timeout=60,
            what="the fan-out to be well under way",
        )
        stop(worker, signal.SIGKILL)
    assert Delivery.objects.exclude(status__in=Delivery.FINAL).exists(), "killed too late"

    time.sleep(3.5)  # past the sweep's threshold (GROUPFLIER_DELIVERY_UNKNOWN_AFTER=3 in env)
    with running_worker(concurrency=concurrency, name="w2", log_path=log, **env):

        def everything_final():
            sweep_deliveries.delay()
            return all_final(size)()

        wait_until(everything_final, timeout=180, interval=2, what="every delivery to end")

    statuses = Counter(Delivery.objects.values_list("status", flat=True))
    assert set(statuses) <= {Status.SENT, Status.UNKNOWN}
    assert statuses[Status.UNKNOWN] <= concurrency
    got = received()
    assert max(got.values()) == 1, "a member got the text twice"
    sent = set(Delivery.objects.filter(status=Status.SENT).values_list("to_number", flat=True))
    assert sent <= set(got)  # "sent" is never a guess
    unknown = set(
        Delivery.objects.filter(status=Status.UNKNOWN).values_list("to_number", flat=True)
    )
    assert set(got) <= sent | unknown  # nothing reached the provider we do not account for
    assert len(sent) + len(unknown) == size  # and nobody was lost
