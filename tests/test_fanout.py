"""The delivery pipeline (SPEC §3 "Delivery guarantees"): one row per (message, recipient,
part), claimed before the hand-off, each gateway answer handled, safe to run twice."""

from datetime import timedelta

import pytest
from django.utils import timezone

from groupflier.pipeline import rows
from members.models import Member
from messaging.gateways import base
from messaging.gateways.base import BaseGateway, ErrorEffect, GatewayError
from messaging.gateways.state import pause_gateway, resume_gateway
from messaging.models import Delivery, GatewayState, Message
from messaging.tasks import fan_out, send_deliveries, sweep_deliveries
from tests.conftest import (
    MEMBER,
    OUTSIDER,
    OWNER,
    assert_error,
    assert_ok,
    login_as,
    make_active_group,
)
from texts.models import OutboundSms

pytestmark = pytest.mark.django_db
KID = "+14155550104"


class ScriptedGateway(BaseGateway):
    """Answers each number with the next scripted error, then accepts. Splits at 10 characters
    when told to, so multi-part messages can be tested."""

    script: dict[str, list[GatewayError]] = {}
    handed: list[tuple[str, str]] = []

    def split(self, text, sender_name=""):
        if not self.options.get("split"):
            return [text]
        chunks = [text[i : i + 10] for i in range(0, len(text), 10)]
        return [f"({n}/{len(chunks)}) {c}" for n, c in enumerate(chunks, 1)]

    def send_part(self, to, part, *, from_number="", sender_name=""):
        ScriptedGateway.handed.append((to, part))
        errors = ScriptedGateway.script.get(to, [])
        if errors:
            error = errors.pop(0)
            if error.effect is ErrorEffect.PAUSE_GATEWAY:
                pause_gateway(self, error.reason)  # as real backends do
            raise error
        return f"ref-{len(ScriptedGateway.handed)}"


class WatchingGateway(ScriptedGateway):
    """Records the row's committed status at the moment of each hand-off."""

    seen = []

    def send_part(self, to, part, **kwargs):
        WatchingGateway.seen.append(Delivery.objects.get(to_number=to).status)
        return super().send_part(to, part, **kwargs)


@pytest.fixture
def gateway(settings):
    ScriptedGateway.script, ScriptedGateway.handed = {}, []
    base.SMS_GATEWAY.cache_clear()

    def use(script=None, cls="ScriptedGateway", **options):
        settings.GROUPFLIER_SMS_GATEWAY = f"tests.test_fanout.{cls}"
        settings.GROUPFLIER_SMS_GATEWAY_OPTIONS = options
        ScriptedGateway.script = script or {}
        return ScriptedGateway

    yield use
    base.SMS_GATEWAY.cache_clear()


@pytest.fixture
def send(api, family):
    def post(text="Dinner at 6", person=None):
        person = person or family.owner
        return assert_ok(
            api("message/send", sid=person.sid, number=family.address_of(person), message=text)
        )

    return post


def status_of(number):
    return list(
        Delivery.objects.filter(to_number=number).order_by("part").values_list("status", flat=True)
    )


def test_a_transient_error_is_retried_and_then_sent(gateway, send):
    gateway({MEMBER: [GatewayError("HTTP 503", effect=ErrorEffect.RETRY, code="http_503")] * 2})
    send()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.SENT, 3)
    assert ScriptedGateway.handed == [(MEMBER, "Dinner at 6")] * 3


def test_transient_errors_give_up_after_the_bound(gateway, send, settings):
    settings.GROUPFLIER_DELIVERY_MAX_ATTEMPTS = 3
    gateway({MEMBER: [GatewayError("HTTP 503", effect=ErrorEffect.RETRY, code="http_503")] * 10})
    send()
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.reason == "gave up after 3 attempts: http_503: HTTP 503"
    assert len(ScriptedGateway.handed) == 3


def test_a_permanent_error_is_final_with_the_gateways_reason(gateway, send):
    gateway({MEMBER: [GatewayError("invalid message", effect=ErrorEffect.FAIL, code="-7")]})
    send()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.reason) == (Delivery.Status.FAILED, "-7: invalid message")
    assert len(ScriptedGateway.handed) == 1


@pytest.mark.parametrize(
    "effect, flag",
    [
        (ErrorEffect.RECIPIENT_OPTED_OUT_LOCALLY, "opted_out_locally"),
        (ErrorEffect.RECIPIENT_OPTED_OUT_GLOBALLY, "blocked"),
        (ErrorEffect.BAD_NUMBER, "bad_number"),
    ],
)
def test_recipient_effects_flag_the_member(gateway, send, effect, flag):
    gateway({MEMBER: [GatewayError("refused", effect=effect, code="-5")]})
    send()
    assert status_of(MEMBER) == [Delivery.Status.FAILED]
    assert getattr(Member.objects.get(number=MEMBER), flag) is True


def test_a_local_opt_out_skips_later_messages(gateway, send):
    gateway({MEMBER: [GatewayError("opted out", effect=ErrorEffect.RECIPIENT_OPTED_OUT_LOCALLY)]})
    send("one")
    send("two")
    later = Delivery.objects.get(message__seq=2)
    assert later.status == Delivery.Status.SKIPPED and "gateway" in later.reason
    assert len(ScriptedGateway.handed) == 1


def test_an_unknown_outcome_is_never_resent(gateway, send):
    gateway({MEMBER: [GatewayError("timed out after sending", effect=ErrorEffect.OUTCOME_UNKNOWN)]})
    send()
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.UNKNOWN
    send_deliveries.apply(args=[[delivery.pk]])
    assert len(ScriptedGateway.handed) == 1


def test_a_paused_gateway_keeps_parts_queued_until_it_resumes(
    gateway, send, django_capture_on_commit_callbacks
):
    used = gateway(
        {MEMBER: [GatewayError("credit limit", effect=ErrorEffect.PAUSE_GATEWAY, code="-2")]}
    )
    send()  # the gateway answers -2 and pauses itself
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.QUEUED, 0)
    assert used.handed == [(MEMBER, "Dinner at 6")]
    instance = base.get_gateway()
    assert GatewayState.objects.get(gateway=instance.name).paused
    send("Later")  # nothing is handed to a paused gateway
    assert len(used.handed) == 1
    assert set(status_of(MEMBER)) == {Delivery.Status.QUEUED}
    with django_capture_on_commit_callbacks(execute=True):
        resume_gateway(instance, by="test")  # hands over what waited, at once
    assert set(status_of(MEMBER)) == {Delivery.Status.SENT}
    welcomes = set(OutboundSms.objects.values_list("text", flat=True))
    group_texts = [(to, text) for to, text in used.handed if text not in welcomes]
    assert group_texts == [(MEMBER, "Dinner at 6"), (MEMBER, "Dinner at 6"), (MEMBER, "Later")]
    # The welcome texts that waited for the gateway (queued with the group) went out too.
    assert OutboundSms.objects.filter(status="queued").count() == 0


def test_a_long_message_is_one_row_per_part(gateway, api, family):
    gateway(split=True)
    make_active_group("x", "y", OUTSIDER, [("z", KID)])
    assert_ok(
        api(
            "message/send",
            sid=family.owner.sid,
            number=family.address_of(family.owner),
            message="abcdefghij" * 3,
        )
    )
    rows = Delivery.objects.filter(to_number=MEMBER).order_by("part")
    assert [(d.part, d.parts, d.text) for d in rows] == [
        (1, 3, "(1/3) abcdefghij"),
        (2, 3, "(2/3) abcdefghij"),
        (3, 3, "(3/3) abcdefghij"),
    ]
    assert [d.status for d in rows] == [Delivery.Status.SENT] * 3


def test_fan_out_and_sends_are_safe_to_run_twice(gateway, send):
    gateway()
    send()
    message = Message.objects.get()
    fan_out.apply(args=[message.pk])
    ids = list(Delivery.objects.values_list("id", flat=True))
    send_deliveries.apply(args=[ids])
    assert Delivery.objects.count() == 1
    assert len(ScriptedGateway.handed) == 1


def test_the_sweep_marks_stuck_hand_offs_unknown_and_requeues_lost_parts(gateway, family, settings):
    gateway()
    message = Message.objects.create(group=family.group, seq=1, sender_name="Mom", text="hi")
    recipient = family.group.memberships.get(member__number=MEMBER)
    old = timezone.now() - timedelta(hours=1)
    stuck = Delivery.objects.create(
        message=message,
        recipient=recipient,
        part=1,
        to_number=MEMBER,
        text="hi",
        status=Delivery.Status.SENDING,
    )
    lost = Delivery.objects.create(
        message=message, recipient=recipient, part=2, to_number=MEMBER, text="hi"
    )
    fresh = Delivery.objects.create(
        message=message, recipient=recipient, part=3, to_number=MEMBER, text="hi"
    )
    Delivery.objects.filter(pk__in=[stuck.pk, lost.pk]).update(updated_at=old)
    assert sweep_deliveries.apply().get()["deliveries"] == {"sent": 0, "unknown": 1, "requeued": 1}
    stuck.refresh_from_db(), lost.refresh_from_db(), fresh.refresh_from_db()
    assert stuck.status == Delivery.Status.UNKNOWN
    assert lost.status == Delivery.Status.SENT  # queued again, and sent once
    assert fresh.status == Delivery.Status.QUEUED  # its own task is still coming
    assert ScriptedGateway.handed == [(MEMBER, "hi")]


def test_the_claim_is_committed_before_the_hand_off(gateway, send):
    WatchingGateway.seen = []
    gateway(cls="WatchingGateway")
    send()
    assert WatchingGateway.seen == [Delivery.Status.SENDING]


def test_group_messages_go_to_registered_phones_as_pushes(gateway, api, family):
    from devices.models import PushAttempt

    gateway()
    assert_ok(
        api(
            "device/register", number=MEMBER, type="android", token="tok-dad", sid=family.member.sid
        )
    )
    assert_ok(api("device/register", number=OWNER, type="iphone_no_notify", token="a" * 64))
    assert_ok(
        api(
            "message/send",
            sid=family.owner.sid,
            number=family.address_of(family.owner),
            message="Push me",
        )
    )
    (attempt,) = PushAttempt.objects.all()
    assert (attempt.device.token, attempt.text, attempt.sender_name) == (
        "tok-dad",
        "Push me",
        "Mom",
    )
    assert attempt.group_number == family.address_of(family.member)


# --- A worker that dies mid-batch: the hand-off log (messaging.handoff) -----------------------


class Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs in the worker, no cleanup, no write-back."""


class DyingGateway(ScriptedGateway):
    """Takes parts until the ``die_at``-th hand-off, during which the worker dies."""

    die_at = 3

    def send_part(self, to, part, **kwargs):
        if len(ScriptedGateway.handed) + 1 == DyingGateway.die_at:
            ScriptedGateway.handed.append((to, part))  # it may have reached the provider
            raise Killed
        return super().send_part(to, part, **kwargs)


TEAM = [(f"Player {n}", f"+1415555020{n}") for n in range(6)]


@pytest.fixture
def team_unplanned(db):
    """A message from the coach to six members, with no delivery rows yet."""
    group = make_active_group("Team", "Coach", OWNER, TEAM).group
    coach = group.memberships.get(member=group.owner)
    return Message.objects.create(
        group=group, seq=1, sender=coach, sender_name="Coach", text="Practice"
    )


@pytest.fixture
def team_message(team_unplanned):
    """The same message, planned (rows queued) but not handed over yet."""
    from messaging import fanout

    list(fanout.plan(team_unplanned))
    return team_unplanned


def test_planning_goes_a_chunk_at_a_time_and_resumes_after_a_crash(
    gateway, team_unplanned, monkeypatch
):
    from messaging import fanout

    gateway()
    monkeypatch.setattr(fanout, "PLAN_CHUNK", 4)
    chunks = fanout.plan(team_unplanned)
    first = next(chunks)
    # The first chunk's rows are there, ready for the workers, before the rest is planned.
    assert Delivery.objects.filter(pk__in=first, status=Delivery.Status.QUEUED).count() == 4
    assert Delivery.objects.count() == 4
    chunks.close()  # the planning worker dies here; the task runs again
    again = list(fanout.plan(team_unplanned))
    assert [len(chunk) for chunk in again] == [4, 2]
    assert again[0] == first
    assert Delivery.objects.count() == 6


def test_pushes_reach_every_chunks_phones_once_and_no_blocked_or_sending_one(
    gateway, team_unplanned, monkeypatch, django_capture_on_commit_callbacks
):
    from devices.actions import register_device
    from devices.models import PushAttempt
    from messaging import fanout

    gateway()
    monkeypatch.setattr(fanout, "PLAN_CHUNK", 2)  # three chunks of the six players
    (_, first), (_, blocked), *_, (_, last) = TEAM
    for number in (first, blocked, last, OWNER):  # the coach (the sender) has one too
        register_device(number, "android", f"token-{number[1:]}", None)
    Member.objects.filter(number=blocked).update(blocked=True)
    with django_capture_on_commit_callbacks(execute=True):
        list(fanout.plan(team_unplanned))
        list(fanout.plan(team_unplanned))  # planned again (a crashed task run twice)
    pushed = sorted(str(attempt.device.number) for attempt in PushAttempt.objects.all())
    assert pushed == sorted([first, last])


def age_claims():
    Delivery.objects.filter(status=Delivery.Status.SENDING).update(
        updated_at=timezone.now() - timedelta(hours=1)
    )


def test_a_worker_killed_mid_batch_leaves_only_its_hand_off_unknown(gateway, team_message):
    from messaging import fanout

    gateway(cls="DyingGateway")
    ids = sorted(team_message.deliveries.values_list("id", flat=True))
    with pytest.raises(Killed):
        rows.send_batch(fanout.PIPELINE, ids)
    # The whole batch was claimed; the database alone cannot tell what went out.
    assert Delivery.objects.filter(status=Delivery.Status.SENDING).count() == 6

    age_claims()
    assert sweep_deliveries.apply().get()["deliveries"] == {"sent": 2, "unknown": 1, "requeued": 3}
    statuses = [Delivery.objects.get(pk=pk).status for pk in ids]
    assert statuses == ["sent", "sent", "unknown", "sent", "sent", "sent"]
    handed = [to for to, _ in ScriptedGateway.handed]
    assert sorted(handed) == sorted(number for _, number in TEAM)  # each once, none twice
    assert Delivery.objects.get(pk=ids[3]).attempts == 1  # taken back: no attempt spent


def test_a_batch_the_log_lost_is_unknown_not_resent(gateway, team_message, settings):
    import redis

    from messaging import fanout

    gateway(cls="DyingGateway")
    ids = sorted(team_message.deliveries.values_list("id", flat=True))
    with pytest.raises(Killed):
        rows.send_batch(fanout.PIPELINE, ids)
    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # Redis restarted empty with the worker
    age_claims()
    assert sweep_deliveries.apply().get()["deliveries"] == {"sent": 0, "unknown": 6, "requeued": 0}
    assert len(ScriptedGateway.handed) == 3


class SweptGateway(ScriptedGateway):
    """A worker so slow that the sweep takes its batch back while it holds the second part."""

    def send_part(self, to, part, **kwargs):
        reference = super().send_part(to, part, **kwargs)
        if len(ScriptedGateway.handed) == 2:
            age_claims()
            SweptGateway.swept = sweep_deliveries.apply().get()["deliveries"]
        return reference


def test_a_slow_worker_whose_batch_was_taken_back_stops(gateway, team_message):
    from messaging import fanout

    gateway(cls="SweptGateway")
    ids = sorted(team_message.deliveries.values_list("id", flat=True))
    result = rows.send_batch(fanout.PIPELINE, ids)
    # The sweep saw two parts begun: the first sent, the second (in the worker's hands) unknown;
    # it queued the other four again, and (tasks run eagerly here) they went out at once.
    assert SweptGateway.swept == {"sent": 1, "unknown": 1, "requeued": 4}
    assert result.sent == 2  # the worker stopped at the first part taken back
    handed = [to for to, _ in ScriptedGateway.handed]
    assert sorted(handed) == sorted(number for _, number in TEAM)  # each once, none twice
    statuses = [Delivery.objects.get(pk=pk).status for pk in ids]
    assert statuses == ["sent", "unknown", "sent", "sent", "sent", "sent"]


def fund(owner, balance):
    """The owner's account as a paid one holding ``balance``, through the ledger."""
    from accounts.ledger import post_entry
    from accounts.models import Account

    account = Account.objects.get(member=owner)
    Account.objects.filter(pk=account.pk).update(type=Account.Type.PAID)
    post_entry(account, "adjustment", balance - account.balance, note="test funds")
    account.refresh_from_db()
    return account


def test_the_whole_cost_is_held_at_acceptance_and_failed_parts_given_back(gateway, api, settings):
    from accounts.models import LedgerEntry

    settings.GROUPFLIER_SMS_PRICE = 3
    group = make_active_group("Team", "Coach", OWNER, TEAM).group
    account = fund(group.owner, 1000)
    bad = GatewayError("not a mobile number", effect=ErrorEffect.BAD_NUMBER)
    gateway({TEAM[0][1]: [bad]})
    coach = group.memberships.get(member=group.owner)
    assert_ok(
        api("message/send", sid=login_as(OWNER), number=str(coach.address.number), message="Go")
    )
    account.refresh_from_db()
    # Six parts held at once; the one the gateway refused given back.
    assert account.balance == 1000 - 6 * 3 + 3
    kinds = list(LedgerEntry.objects.filter(account=account).values_list("kind", "amount"))
    assert kinds[-2:] == [("sms_debit", -18), ("refund", 3)]
    assert account.balance == sum(
        LedgerEntry.objects.filter(account=account).values_list("amount", flat=True)
    )


def test_without_cover_a_send_is_refused_and_nothing_is_stored(gateway, api, settings):
    from accounts.models import Account

    settings.GROUPFLIER_SMS_PRICE = 3
    gateway()
    group = make_active_group("Team", "Coach", OWNER, TEAM).group
    Account.objects.filter(member=group.owner).update(balance=17, type=Account.Type.PAID)
    coach = group.memberships.get(member=group.owner)
    body = api("message/send", sid=login_as(OWNER), number=str(coach.address.number), message="Go")
    assert_error(body, "SUSPENDED", "balance")
    assert Message.objects.count() == 0 and Delivery.objects.count() == 0
    assert Account.objects.get(member=group.owner).balance == 17


def test_parts_the_sweep_finds_sent_or_unknown_stay_charged(gateway, api, settings):
    from accounts.models import Account, LedgerEntry

    settings.GROUPFLIER_SMS_PRICE = 3
    group = make_active_group("Team", "Coach", OWNER, TEAM).group
    fund(group.owner, 1000)
    gateway(cls="DyingGateway")
    coach = group.memberships.get(member=group.owner)
    with pytest.raises(Killed):
        api("message/send", sid=login_as(OWNER), number=str(coach.address.number), message="Go")
    message = Message.objects.get()
    assert message.held_parts == 6
    gateway()
    age_claims()
    sweep_deliveries.apply()  # two found sent, one unknown, three queued again and sent
    assert sorted(message.deliveries.values_list("status", flat=True)) == [
        "sent",
        "sent",
        "sent",
        "sent",
        "sent",
        "unknown",
    ]
    account = Account.objects.get(member=group.owner)
    assert account.balance == 1000 - 6 * 3  # the unknown part may have gone: it is charged
    assert account.balance == sum(
        LedgerEntry.objects.filter(account=account).values_list("amount", flat=True)
    )


def test_a_free_accounts_message_holds_nothing_and_settles_nothing(gateway, api):
    """A free account pays nothing: its message is stored without counting its recipients
    (what keeps a send in a group of thousands as cheap as in a group of ten), and its
    fan-out sends every part with no entry on the account."""
    from accounts.models import Account, LedgerEntry

    gateway(split=True)
    group = make_active_group("Team", "Coach", OWNER, TEAM).group
    account = Account.objects.get(member=group.owner)
    Account.objects.filter(pk=account.pk).update(type=Account.Type.FREE)
    entries = set(LedgerEntry.objects.filter(account=account))  # its trial credit
    coach = group.memberships.get(member=group.owner)
    body = api("message/send", sid=login_as(OWNER), number=str(coach.address.number),
               message="Practice moved to six")  # fmt: skip
    assert_ok(body)
    message = Message.objects.get()
    assert message.held_parts == 0
    assert message.deliveries.filter(status=Delivery.Status.SENT).count() == 3 * len(TEAM)
    assert set(LedgerEntry.objects.filter(account=account)) == entries
    balance = account.balance
    account.refresh_from_db()
    assert account.balance == balance


@pytest.mark.parametrize(
    "shape",
    ["plain", "cc", "reply_to_owner", "reply_to_owner with cc", "broadcast member", "the owner"],
)
def test_the_parts_held_at_acceptance_are_the_parts_the_planning_sends(
    gateway, api, settings, shape
):
    """One rule for who receives, read twice: when the message is stored (its held parts) and
    when it is planned (its rows). Whoever the message skips (a member who left, one with
    sms=0, one who opted out) is left out of both, so nothing is settled afterwards."""
    from accounts.models import LedgerEntry
    from groups.models import Group, Membership

    settings.GROUPFLIER_SMS_PRICE = 3
    gateway(split=True)
    group = make_active_group("Team", "Coach", OWNER, TEAM).group
    account = fund(group.owner, 1000)
    rule = shape.startswith("reply_to_owner") or shape == "broadcast member"
    Group.objects.filter(pk=group.pk).update(reply_to_owner=rule)
    player = lambda n: Membership.objects.get(group=group, member__number=TEAM[n][1])  # noqa: E731
    Membership.objects.filter(pk=player(1).pk).update(bye=True)
    Membership.objects.filter(pk=player(2).pk).update(sms=False)
    Member.objects.filter(number=TEAM[3][1]).update(blocked=True)
    Member.objects.filter(number=TEAM[4][1]).update(opted_out_locally=True)
    if shape == "broadcast member":
        Membership.objects.filter(pk=player(0).pk).update(broadcast=True)
    sender = OWNER if shape == "the owner" else TEAM[0][1]
    sender_in = Membership.objects.get(group=group, member__number=sender)
    body = api(
        "message/send",
        sid=login_as(sender),
        number=str(sender_in.address.number),
        message="Practice moved to six",  # three parts of the scripted gateway's ten characters
        cc="1" if shape.endswith("cc") else "0",
    )
    assert_ok(body)
    message = Message.objects.get()
    sent = message.deliveries.exclude(status=Delivery.Status.SKIPPED).count()
    assert sent and message.held_parts == sent
    references = [f"hold:message:{message.pk}", f"settle:message:{message.pk}"]
    entries = LedgerEntry.objects.filter(account=account, reference__in=references)
    assert list(entries.values_list("reference", "amount")) == [(references[0], -3 * sent)]
