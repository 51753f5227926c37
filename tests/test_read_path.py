"""The polled read path (issue 17): what it keeps between requests is never stale.

A session is cached in Redis, each membership keeps its count of visible messages, and each
web process keeps the answers of /message/get while the group's history stamp holds. A
logout, a `bye`, a removal or a change of the group's settings made by one web process is seen
by the very next request to another: the tests below make the change in a second Python
process (its own Redis client and database connection) and read in this one, after this one
has served, and so could have cached, the same sid.
"""

import json
import subprocess
import sys

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from redis.backoff import NoBackoff
from redis.retry import Retry

from groups.models import Absence, Group, Membership
from members import sessions
from members.models import ApiSession, Member
from messaging import actions, history
from messaging.models import Delivery, Message
from tests.conftest import MEMBER, OWNER, assert_error, assert_ok
from tests.test_messages import say  # noqa: F401 - the fixture
from tests.workers import ROOT, worker_environment

# A second process of the service: its own Redis client and database connection.
OTHER_PROCESS = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "groupflier.settings"
import django
django.setup()
exec(sys.argv[1])
"""
# What a second web process answers for a call through the whole stack.
CALL = """
import json
from django.test import Client
response = Client().post(sys.argv[2], json.loads(sys.argv[3]))
print(json.dumps(response.json()))
"""


def run_in_another_process(code: str, *args: str) -> str:
    """``code`` run by a second process of the service (``sys.argv[2:]`` are ``args``); what
    it printed."""
    done = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, code, *args],
        cwd=ROOT,
        env=worker_environment(CELERY_TASK_ALWAYS_EAGER=1),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def in_another_process(path: str, **params) -> dict:
    """``path`` called through the whole stack by a second web process of the service."""
    printed = run_in_another_process(CALL, "/" + path, json.dumps(params))
    return json.loads(printed.strip().splitlines()[-1])


def groups_of(api, person) -> dict:
    body = assert_ok(api("member/groups", sid=person.sid))
    return {group["name"]: group for group in body["groups"]}


def assert_counts_match(group):
    """Every membership's kept count is what visible_messages counts, and /message/get's read
    (plain SQL) shows the very messages visible_messages does."""
    for membership in Membership.objects.filter(group=group).select_related("group"):
        visible = list(actions.visible_messages(membership).order_by("seq").values_list("pk"))
        visible = [pk for (pk,) in visible]
        assert membership.message_count == len(visible), membership.name
        assert [row.pk for row in actions.read(membership, first=1)] == visible, membership.name
        assert [row.pk for row in actions.read(membership)] == visible[-100:], membership.name
        for pk, row in zip(visible, actions.read(membership, first=1), strict=True):
            assert actions.read(membership, message_id=row.seq)[0].pk == pk


# --- Sessions ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_logout_in_another_process_is_seen_by_the_next_request(api, family):
    assert_ok(api("member/groups", sid=family.member.sid))  # cached here from now on
    assert in_another_process("member/logout", sid=family.member.sid)["status"] == "OK"
    response = api("member/groups", sid=family.member.sid)
    assert_error(response, "AUTHORIZATION_REQUIRED", http_status=401)


@pytest.mark.django_db(transaction=True)
def test_a_logout_here_is_seen_by_another_process(api, family):
    assert in_another_process("member/groups", sid=family.member.sid)["status"] == "OK"
    assert_ok(api("member/logout", sid=family.member.sid))
    answer = in_another_process("member/groups", sid=family.member.sid)
    assert answer["error_type"] == "AUTHORIZATION_REQUIRED"


def test_a_cached_session_ends_with_its_row_however_it_is_deleted(api, family):
    assert_ok(api("member/groups", sid=family.member.sid))
    ApiSession.objects.filter(member__number=MEMBER).delete()  # the admin, say
    response = api("member/groups", sid=family.member.sid)
    assert_error(response, "AUTHORIZATION_REQUIRED", http_status=401)


def test_a_lookup_racing_with_the_logout_cannot_bring_the_session_back(api, family):
    """A lookup that read the row just before the logout may cache it just after."""
    sessions.end_session(family.member.sid)
    key_hash = sessions._hash(family.member.sid)
    entry_key, _ = sessions._keys(key_hash)
    member_id = Membership.objects.get(member__number=MEMBER, group=family.group).member_id
    redis.Redis.from_url(settings.REDIS_URL).set(entry_key, f"{member_id} {MEMBER}")
    assert sessions.member_for_sid(family.member.sid) is None


def unreachable_redis():
    return redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))


@pytest.mark.django_db(transaction=True)
def test_a_logout_that_cannot_reach_redis_logs_out_nothing(api, family, monkeypatch):
    """Else the cached copy could outlive the row: the logout answers an error and the
    session stays as it was, for the client to log out again."""
    monkeypatch.setattr(sessions.redis_client, "shared", unreachable_redis)
    monkeypatch.setattr(sessions, "_cache_failed_at", None)
    response = api("member/logout", sid=family.member.sid)
    assert_error(response, "SERVER_ERROR", http_status=500)
    assert ApiSession.objects.filter(key_hash=sessions._hash(family.member.sid)).exists()


def test_while_redis_is_away_sessions_are_read_from_the_database(api, family, monkeypatch):
    monkeypatch.setattr(sessions.redis_client, "shared", unreachable_redis)
    monkeypatch.setattr(sessions, "_cache_failed_at", None)
    assert_ok(api("member/groups", sid=family.member.sid))
    assert sessions._cache_failed_at is not None  # the next lookups do not wait on it
    assert_ok(api("member/groups", sid=family.member.sid))


def test_without_redis_every_lookup_reads_the_database(api, family, monkeypatch):
    monkeypatch.setattr(sessions.redis_client, "shared", lambda: None)
    assert_ok(api("member/groups", sid=family.member.sid))
    assert_ok(api("member/logout", sid=family.member.sid))
    response = api("member/groups", sid=family.member.sid)
    assert_error(response, "AUTHORIZATION_REQUIRED", http_status=401)


# --- Memberships and groups are read afresh on every request ---------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_bye_in_another_process_is_seen_by_the_next_request(api, family):
    assert groups_of(api, family.member)["Family"]["bye"] == 0
    address = family.address_of(family.member)
    answer = in_another_process("member/bye", sid=family.member.sid, group=address)
    assert answer["status"] == "OK"
    assert groups_of(api, family.member)["Family"]["bye"] == 1
    assert_ok(api("message/send", sid=family.owner.sid, number=family.address_of(family.owner),
                  message="while Dad is away"))  # fmt: skip
    counts = assert_ok(api("message/count", sid=family.member.sid))["results"]
    assert counts == [{"number": address, "count": 0}]


@pytest.mark.django_db(transaction=True)
def test_a_removal_in_another_process_is_seen_by_the_next_request(api, family):
    address = family.address_of(family.member)
    assert_ok(api("message/get", sid=family.member.sid, number=address))
    answer = in_another_process(
        "member/remove", sid=family.owner.sid, group=family.address_of(family.owner), number=MEMBER
    )
    assert answer["status"] == "OK"
    assert "Family" not in groups_of(api, family.member)
    response = api("message/get", sid=family.member.sid, number=address)
    assert_error(response, "MEMBER_LOOKUP_FAILED")
    assert assert_ok(api("message/count", sid=family.member.sid))["results"] == []


@pytest.mark.django_db(transaction=True)
def test_a_settings_change_in_another_process_is_seen_by_the_next_request(api, family):
    assert groups_of(api, family.member)["Family"]["disable_who"] == 0
    answer = in_another_process(
        "group/set", sid=family.owner.sid, number=family.address_of(family.owner), disable_who="1"
    )
    assert answer["status"] == "OK"
    seen = groups_of(api, family.member)["Family"]
    assert seen["disable_who"] == 1
    assert sorted(m["number"] for m in seen["members"]) == [OWNER, MEMBER]


# --- Counts kept per membership ---------------------------------------------------------------


def test_message_counts_are_kept_as_visible_messages_counts_them(api, say, family):
    group = family.group
    owner, member = family.owner, family.member
    assert_ok(say(owner, "one"))
    assert_ok(say(member, "two"))
    assert_counts_match(group)
    assert_ok(say(member, "*bye"))
    assert_ok(say(owner, "while away"))
    assert_counts_match(group)
    assert_ok(say(member, "*hi"))
    assert_ok(say(owner, "back"))
    assert_counts_match(group)
    assert_ok(api("group/set", sid=owner.sid, number=family.address_of(owner), reply_to_owner="1"))
    assert_ok(say(member, "to the owner alone"))
    assert_ok(say(owner, "to everyone"))
    assert_ok(say(owner, "*add Kim 4155550109"))  # a newcomer sees the history but Dad's note
    assert_counts_match(group)
    assert Membership.objects.get(group=group, name="Kim").message_count == 5
    assert_ok(say(owner, "*bye"))
    assert_ok(say(member, "while the owner is away"))
    assert_counts_match(group)
    body = assert_ok(api("message/count", sid=member.sid))
    assert body["results"][0]["count"] == Membership.objects.get(name="Dad").message_count == 6


def written_memberships(group, send) -> set[str]:
    """The names of the memberships of ``group`` whose rows ``send()`` wrote (PostgreSQL's
    xmin: the transaction that wrote a row's current version)."""

    def versions():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, xmin::text FROM groups_membership WHERE group_id = %s", [group.pk]
            )
            return dict(cursor.fetchall())

    before = versions()
    send()
    after = versions()
    return {name for name in after if after[name] != before[name]}


def test_a_message_writes_only_to_its_sender_and_those_it_is_hidden_from(api, say, family):
    """What a message costs does not grow with its group: it counts once for the group, and
    only the sender's row (their last exchange) and the rows of those away are written."""
    group = family.group
    Membership.objects.bulk_create(
        Membership(
            group=group,
            member=member,
            name=f"Cousin {n}",
            address=group.memberships.first().address,
        )
        for n, member in enumerate(
            Member.objects.bulk_create(Member(number=f"+1415555{n:04d}") for n in range(40))
        )
    )
    away = Membership.objects.get(group=group, name="Cousin 7")
    Membership.objects.filter(pk=away.pk).update(bye=True)
    Absence.objects.create(membership=away, left_at=timezone.now())
    assert written_memberships(group, lambda: assert_ok(say(family.member, "one"))) == {
        "Dad", "Cousin 7",
    }  # fmt: skip
    assert_ok(api("group/set", sid=family.owner.sid, number=family.address_of(family.owner),
                  reply_to_owner="1"))  # fmt: skip
    assert written_memberships(group, lambda: assert_ok(say(family.owner, "two"))) == {
        "Mom", "Cousin 7",
    }  # fmt: skip
    # A reply to the owner alone is hidden from everyone else: only then are all written.
    written = written_memberships(group, lambda: assert_ok(say(family.member, "to Mom")))
    assert len(written) == 42
    assert_counts_match(group)
    assert Group.objects.get(pk=group.pk).message_total == 3


def test_a_full_save_of_a_group_or_membership_keeps_the_counts_sent_meanwhile(say, family):
    """An administrator's form read before messages were sent, saved after: the counters the
    messages moved are not taken back."""
    group = Group.objects.get(pk=family.group.pk)
    away = Membership.objects.get(group=group, name="Dad")
    assert_ok(say(family.member, "*bye"))
    assert_ok(say(family.owner, "one"))
    assert_ok(say(family.owner, "two"))
    group.name, away.name = "The Family", "Papa"
    group.save()
    away.save()
    assert Group.objects.get(pk=group.pk).message_total == 2
    assert Membership.objects.get(pk=away.pk).hidden_count == 2
    assert Group.objects.get(pk=group.pk).name == "The Family"


@pytest.mark.django_db(transaction=True)
def test_the_migration_to_hidden_counts_counts_what_each_member_cannot_see(api, say, family):
    """An installation upgraded from per-membership counts: the group's total and each
    membership's hidden count are counted from the messages stored."""
    from django.db.migrations.executor import MigrationExecutor

    assert_ok(say(family.owner, "one"))
    assert_ok(say(family.member, "*bye"))
    assert_ok(say(family.owner, "while Dad is away"))
    assert_ok(say(family.member, "*hi"))
    assert_ok(api("group/set", sid=family.owner.sid, number=family.address_of(family.owner),
                  reply_to_owner="1"))  # fmt: skip
    assert_ok(say(family.member, "to Mom alone"))
    assert_ok(say(family.owner, "*add Kim 4155550109"))
    counts = {ms.name: ms.message_count for ms in Membership.objects.select_related("group")}
    assert counts == {"Mom": 3, "Dad": 2, "Kim": 2}
    before = [("groups", "0005_history_stamp"), ("messaging", "0012_history_stamp_triggers")]
    MigrationExecutor(connection).migrate(before)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE groups_membership SET message_count = 99")  # not read
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert {ms.name: ms.message_count for ms in Membership.objects.select_related("group")} == (
        counts
    )
    assert_counts_match(family.group)


# The send path on SQLite (the embedded mode), whose SQL differs: writes one after another
# where PostgreSQL puts them in one statement.
SEND_ON_SQLITE = """
import json
from groups import roster
from groups.models import Group, Membership
from messaging import actions
from tests.conftest import make_active_group
group = make_active_group("Family", "Mom", "+14155550101",
                          [("Dad", "+14155550102"), ("Kim", "+14155550109")]).group
mom, dad, kim = (Membership.objects.select_related("group", "member").get(group=group, name=n)
                 for n in ("Mom", "Dad", "Kim"))
ids = [actions.send(mom, "one").message.seq]
roster.leave(kim)
ids.append(actions.send(dad, "while Kim is away").message.seq)
roster.rejoin(kim)
Group.objects.filter(pk=group.pk).update(reply_to_owner=True)
ids.append(actions.send(dad, "to Mom alone").message.seq)
counts = {}
for ms in Membership.objects.select_related("group").filter(group=group):
    counts[ms.name] = [ms.message_count, actions.visible_messages(ms).count()]
print(json.dumps({"ids": ids, "counts": counts}))
"""


def test_a_send_on_sqlite_stores_and_counts_as_on_postgresql(tmp_path):
    from tests.test_backups import manage, ok

    embedded = {"DATABASE_URL": None, "REDIS_URL": None, "GROUPFLIER_VAR_DIR": str(tmp_path)}
    ok(manage("migrate", "--noinput", "-v0", **embedded))
    printed = ok(manage("shell", "-v0", "-c", SEND_ON_SQLITE, **embedded))
    found = json.loads(printed.strip().splitlines()[-1])
    assert found["ids"] == [1, 2, 3]
    assert found["counts"] == {"Mom": [3, 3], "Dad": [3, 3], "Kim": [1, 1]}


def test_messages_deleted_in_the_admin_leave_the_counts_right(api, say, family, admin_client):
    for text in ("one", "two", "three"):
        assert_ok(say(family.owner, text))
    first, second, third = Message.objects.filter(group=family.group).order_by("seq")
    admin_client.post(reverse("admin:messaging_message_delete", args=[first.pk]), {"post": "yes"})
    admin_client.post(
        reverse("admin:messaging_message_changelist"),
        {"action": "delete_selected", "_selected_action": [second.pk], "post": "yes"},
    )
    assert list(Message.objects.filter(group=family.group)) == [third]
    assert_counts_match(family.group)
    body = assert_ok(api("message/count", sid=family.member.sid))
    assert body["results"][0]["count"] == 1


def test_a_member_added_again_sees_the_history_as_a_newcomer(api, say, family):
    assert_ok(say(family.owner, "one"))
    assert_ok(say(family.member, "two"))
    owner_address = family.address_of(family.owner)
    assert_ok(api("member/remove", sid=family.owner.sid, group=owner_address, number=MEMBER))
    assert_ok(say(family.owner, "three"))
    assert_ok(api("member/add", sid=family.owner.sid, group=owner_address, name="Dad",
                  number=MEMBER))  # fmt: skip
    assert_counts_match(family.group)
    assert Membership.objects.get(group=family.group, name="Dad").message_count == 3


# --- /message/get's answers kept per process (messaging.history) ------------------------------


def latest(api, person, address) -> list[dict]:
    return assert_ok(api("message/get", sid=person.sid, number=address))["messages"]


def test_a_poll_with_nothing_changed_reads_nothing_again(api, say, family, monkeypatch):
    assert_ok(say(family.owner, "one"))
    reads = []
    monkeypatch.setattr(actions, "read", counted(actions.read, reads))
    address = family.address_of(family.member)
    first = latest(api, family.member, address)
    assert [latest(api, family.member, address) for _ in range(3)] == [first] * 3
    assert len(reads) == 1
    assert_ok(say(family.owner, "two"))
    assert [m["txt"] for m in latest(api, family.member, address)] == ["one", "two"]
    assert len(reads) == 2


def test_answers_kept_stay_within_the_memory_given_them(api, say, family, monkeypatch, settings):
    assert_ok(say(family.owner, "one"))
    reads = []
    monkeypatch.setattr(actions, "read", counted(actions.read, reads))
    history.forget()
    mom, dad = ((person, family.address_of(person)) for person in (family.owner, family.member))
    latest(api, *mom)
    latest(api, *dad)
    sizes = sorted(len(rendered) for _, _, rendered in history._kept.values())
    assert len(reads) == len(sizes) == 2
    # Room for either answer but not both: asking in turn, each drops the other.
    settings.GROUPFLIER_HISTORY_CACHE_MB = (sizes[1] + sizes[0] / 2) / 1024 / 1024
    history.forget()
    for person, address in (mom, dad, mom, mom):
        latest(api, person, address)
    assert len(reads) == 2 + 3
    settings.GROUPFLIER_HISTORY_CACHE_MB = 0  # none kept
    for _ in range(2):
        latest(api, *dad)
    assert len(reads) == 5 + 2


def counted(function, calls: list):
    def wrapper(*args, **kwargs):
        calls.append(args)
        return function(*args, **kwargs)

    return wrapper


@pytest.mark.django_db(transaction=True)
def test_a_message_sent_in_another_process_is_in_the_next_answer(api, say, family):
    address = family.address_of(family.member)
    assert_ok(say(family.owner, "one"))
    assert [m["txt"] for m in latest(api, family.member, address)] == ["one"]
    answer = in_another_process("message/send", sid=family.owner.sid,
                                number=family.address_of(family.owner), message="two")  # fmt: skip
    assert answer["status"] == "OK"
    assert [m["txt"] for m in latest(api, family.member, address)] == ["one", "two"]


@pytest.mark.django_db(transaction=True)
def test_a_receipt_recorded_in_another_process_is_in_the_next_answer(api, say, family):
    owner_address = family.address_of(family.owner)
    assert_ok(say(family.owner, "Dinner at 6"))
    (message,) = latest(api, family.owner, owner_address)
    assert message["receipts"]["sent"] == 1
    ref = Delivery.objects.get(message__group=family.group).provider_ref
    run_in_another_process(
        "from messaging.receipts import record_receipt\n"
        f"assert record_receipt({ref!r}, 'delivered')"
    )
    (message,) = latest(api, family.owner, owner_address)
    assert (message["receipts"]["sent"], message["receipts"]["delivered"]) == (0, 1)


@pytest.mark.django_db(transaction=True)
def test_messages_deleted_in_another_process_are_gone_from_the_next_answer(api, say, family):
    address = family.address_of(family.member)
    for text in ("one", "two"):
        assert_ok(say(family.owner, text))
    assert len(latest(api, family.member, address)) == 2
    first = Message.objects.get(group=family.group, seq=1)
    run_in_another_process(
        f"from messaging.models import Message; Message.objects.filter(pk={first.pk}).delete()"
    )
    assert [m["txt"] for m in latest(api, family.member, address)] == ["two"]


@pytest.mark.django_db(transaction=True)
def test_an_absence_changed_in_another_process_is_seen_by_the_next_request(api, say, family):
    address = family.address_of(family.member)
    assert_ok(say(family.member, "*bye"))
    assert_ok(say(family.owner, "while Dad is away"))
    assert_ok(say(family.member, "*hi"))
    assert latest(api, family.member, address) == []
    # The operator deletes the absence in the admin: what was said meanwhile is Dad's to read.
    run_in_another_process("from groups.models import Absence; Absence.objects.all().delete()")
    assert [m["txt"] for m in latest(api, family.member, address)] == ["while Dad is away"]


@pytest.mark.django_db(transaction=True)
def test_a_new_owner_set_in_another_process_sees_every_receipt_next(api, say, family):
    assert_ok(say(family.owner, "Dinner at 6"))
    address = family.address_of(family.member)
    (message,) = latest(api, family.member, address)
    assert "receipts" not in message  # not Dad's message, not Dad's group
    dad = Membership.objects.get(group=family.group, name="Dad").member_id
    run_in_another_process(
        f"from groups.models import Group; Group.objects.filter(pk={family.group.pk})"
        f".update(owner_id={dad})"
    )
    (message,) = latest(api, family.member, address)
    assert message["receipts"]["sent"] == 1


def test_a_change_committed_while_an_answer_is_read_is_seen_by_the_next_request(
    api, say, family, monkeypatch
):
    """The answer read just before the change committed is kept under the stamp read before
    it, which the next request no longer finds."""
    address = family.address_of(family.member)
    assert_ok(say(family.owner, "one"))
    real_read = actions.read

    def read_then_the_owner_speaks(*args, **kwargs):
        monkeypatch.setattr(actions, "read", real_read)
        found = real_read(*args, **kwargs)
        assert_ok(say(family.owner, "two"))
        return found

    monkeypatch.setattr(actions, "read", read_then_the_owner_speaks)
    assert [m["txt"] for m in latest(api, family.member, address)] == ["one"]
    assert [m["txt"] for m in latest(api, family.member, address)] == ["one", "two"]
