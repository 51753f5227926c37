"""Who may call what: every endpoint taking a sid, against every kind of caller.

Callers: the owner (Mom), a member (Dad), a member who left the group (Lee, bye), an outsider
in no group (Zed), and no session at all. Each calls on their own group number for the
family; the outsider and the anonymous caller, who have none, pass the owner's.
"""

import pytest

from groups.models import Group, Membership
from groups.roster import add_member, leave
from tests.conftest import OWNER, assert_error, assert_ok, login_as
from tests.group_helpers import membership_of

pytestmark = pytest.mark.django_db

KID = "+14155550160"
LEFT = "+14155550161"
NEWCOMER = "+14155550162"

OK = "OK"
NO_SID = "AUTHORIZATION_REQUIRED"
LOOKUP = "MEMBER_LOOKUP_FAILED"
NOT_OWNER = "NOT_OWNER"

CALLERS = ("owner", "member", "left", "outsider", "nobody")

# Endpoint, its parameters besides the sid and the group number, the name of its group number
# parameter (None: it takes none), and the answer for each of CALLERS in turn.
MATRIX = [
    ("member/groups", {}, None, (OK, OK, OK, OK, NO_SID)),
    ("member/logout", {}, None, (OK, OK, OK, OK, NO_SID)),
    ("group/set", {"name": "Renamed"}, "number", (OK, NOT_OWNER, NOT_OWNER, LOOKUP, NO_SID)),
    ("group/delete", {}, "number", (OK, NOT_OWNER, NOT_OWNER, LOOKUP, NO_SID)),
    ("member/add", {"name": "New", "number": NEWCOMER}, "group", (OK, OK, OK, LOOKUP, NO_SID)),
    ("member/remove", {"number": KID}, "group", (OK, NOT_OWNER, NOT_OWNER, LOOKUP, NO_SID)),
    ("member/set", {"name": "Renamed"}, "group", (OK, OK, OK, LOOKUP, NO_SID)),
    ("member/bye", {}, "group", (OK, OK, OK, LOOKUP, NO_SID)),
    ("member/hi", {}, "group", (OK, OK, OK, LOOKUP, NO_SID)),
]


@pytest.fixture
def callers(family):
    group = family.group
    mom = membership_of(group, OWNER)
    add_member(mom, "Kid", KID)
    leave(add_member(mom, "Lee", LEFT))
    owner_address = family.address_of(family.owner)
    return {
        "owner": (family.owner.sid, owner_address),
        "member": (family.member.sid, family.address_of(family.member)),
        "left": (login_as(LEFT), str(membership_of(group, LEFT).address.number)),
        "outsider": (family.outsider.sid, owner_address),
        "nobody": (None, owner_address),
    }


def snapshot(group):
    group.refresh_from_db()
    members = Membership.objects.filter(group=group).order_by("id")
    return (
        group.status,
        group.name,
        [(str(m.member.number), m.name, m.bye, m.address_id) for m in members],
    )


def expected_body(path, sid, group):
    """The whole answer an allowed call gives."""
    if path == "group/set":
        group.refresh_from_db()
        return {"status": "OK", "invite_code": group.invite_code, "sid": sid}
    return {"status": "OK"}


@pytest.mark.parametrize(
    "path, extra, number_param, caller, answer",
    [
        pytest.param(path, extra, number_param, caller, answer, id=f"{path}-{caller}")
        for path, extra, number_param, answers in MATRIX
        for caller, answer in zip(CALLERS, answers, strict=True)
    ],
)
def test_who_may_call_what(api, family, callers, path, extra, number_param, caller, answer):
    sid, group_number = callers[caller]
    params = dict(extra)
    if sid is not None:
        params["sid"] = sid
    if number_param is not None:
        params[number_param] = group_number
    before = snapshot(family.group)

    response = api(path, **params)

    if answer == NO_SID:
        body = assert_error(response, NO_SID, http_status=401)
        assert body == {"status": "ERROR", "error_type": NO_SID}
    elif answer != OK:
        assert assert_error(response, answer) == {"status": "ERROR", "error_type": answer}
    elif path == "member/groups":
        body = assert_ok(response)
        assert set(body) == {"status", "number", "account", "groups"}
        in_family = caller != "outsider"
        assert [g["name"] for g in body["groups"]] == (["Family"] if in_family else [])
    else:
        assert assert_ok(response) == expected_body(path, sid, family.group)
    if answer != OK:
        assert snapshot(family.group) == before  # a refused call changes nothing


def test_the_matrix_covers_every_endpoint_that_takes_a_sid():
    from groupflier.api.endpoint import SessionRule
    from groupflier.urls import ENDPOINTS

    needing_a_sid = {e.path for e in ENDPOINTS if e.session is SessionRule.REQUIRED}
    mine = {path for path, *_ in MATRIX}
    # Endpoints of other areas (devices, accounts, messages) have their own matrices.
    assert mine <= needing_a_sid
    assert mine >= {p for p in needing_a_sid if p.split("/")[0] in ("group", "member")}


def test_allowed_calls_did_their_work(api, family, callers):
    """The matrix checks answers; this checks that the OKs were not empty words."""
    sid, group_number = callers["left"]
    assert_ok(api("member/add", sid=sid, group=group_number, name="New", number=NEWCOMER))
    assert membership_of(family.group, NEWCOMER).name == "New"
    assert_ok(api("member/set", sid=sid, group=group_number, name="Leena"))
    assert membership_of(family.group, LEFT).name == "Leena"
    assert_ok(api("member/hi", sid=sid, group=group_number))
    assert membership_of(family.group, LEFT).bye is False
    sid, group_number = callers["owner"]
    assert_ok(api("member/remove", sid=sid, group=group_number, number=KID))
    assert not Membership.objects.filter(group=family.group, member__number=KID).exists()
    assert_ok(api("group/delete", sid=sid, number=group_number))
    assert Group.objects.get(pk=family.group.pk).status == Group.Status.DELETED
