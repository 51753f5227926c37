"""The history stamp (groups.HistoryStamp) moves with every change to what a group's members
read, whoever makes it, and only then: the triggers of groups.stamps, in PostgreSQL and in
the embedded mode's SQLite alike. /message/get's kept answers rely on it (messaging.history).
"""

import json

import pytest

from tests.test_backups import manage, ok

# Each write as a service process, the admin or an operator's SQL might make it, and whether
# it must move the group's stamp. Printed as JSON: [[step, moved, expected], ...].
EVERY_WRITE = """
import json
from django.utils import timezone
from groups.models import Absence, Group, HistoryStamp, Membership
from members.models import Member
from messaging.models import Delivery, Message

def stamp(group):
    return HistoryStamp.objects.filter(group_id=group.pk).values_list("value", flat=True).first()

mom = Member.objects.create(number="+14155550170")
dad = Member.objects.create(number="+14155550171")
family = Group.objects.create(name="Stamped", owner=mom, status="active")
other = Group.objects.create(name="Elsewhere", owner=mom, status="active")
mine = Membership.objects.create(group=family, member=mom, name="Mom")
his = Membership.objects.create(group=family, member=dad, name="Dad")
theirs = Membership.objects.create(group=other, member=mom, name="Mom")
message = Message.objects.create(group=family, seq=1, text="one")  # moves it (checked below)
deliveries = Delivery.objects.filter(message=message)
absences = Absence.objects.filter(membership=his)
now = timezone.now()
steps = [
    ("a message stored", lambda: Message.objects.create(group=family, seq=2, text="two"), True),
    ("a message edited", lambda: Message.objects.filter(pk=message.pk).update(text="1"), True),
    ("deliveries made", lambda: Delivery.objects.bulk_create(
        Delivery(message=message, recipient=r, status="queued") for r in (mine, his)), True),
    ("a delivery touched", lambda: deliveries.update(updated_at=now), False),
    ("a delivery moved on", lambda: deliveries.filter(recipient=his).update(status="sent"), True),
    ("a delivery deleted", lambda: deliveries.filter(recipient=mine).delete(), True),
    ("an absence begun", lambda: Absence.objects.create(membership=his, left_at=now), True),
    ("an absence ended", lambda: absences.update(returned_at=now), True),
    ("an absence deleted", lambda: absences.delete(), True),
    ("elsewhere", lambda: Message.objects.create(group=other, seq=1, text="x"), False),
    ("a message deleted", lambda: Message.objects.filter(pk=message.pk).delete(), True),
]
assert stamp(family) is not None and stamp(other) is None
found = []
for name, write, expected in steps:
    before = stamp(family)
    write()
    found.append((name, stamp(family) != before, expected))
found.append(("the other group's own stamp", stamp(other) is not None, True))
print(json.dumps(found))
"""


def assert_every_write_as_expected(printed: str) -> None:
    found = json.loads(printed.strip().splitlines()[-1])
    assert [(name, moved) for name, moved, _ in found] == [(name, exp) for name, _, exp in found]


@pytest.mark.django_db
def test_postgresql_moves_the_stamp_with_every_change_to_the_history(capsys):
    exec(EVERY_WRITE, {})
    assert_every_write_as_expected(capsys.readouterr().out)


def test_sqlite_moves_the_stamp_with_every_change_to_the_history(tmp_path):
    embedded = {"DATABASE_URL": None, "REDIS_URL": None, "GROUPFLIER_VAR_DIR": str(tmp_path)}
    ok(manage("migrate", "--noinput", "-v0", **embedded))
    assert_every_write_as_expected(ok(manage("shell", "-v0", "-c", EVERY_WRITE, **embedded)))
