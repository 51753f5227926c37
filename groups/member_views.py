"""The /member/* endpoints that act on the member's groups: the list of them with their
rosters, and adding, removing, changing, leaving and rejoining (groups.roster). They live here,
with the roster they call, rather than in members, which is below groups."""

from accounts.actions import balance_of
from groupflier.api.endpoint import Endpoint, SessionRule
from groupflier.api.errors import ApiError, ErrorType
from groupflier.api.params import FALSE_WORDS, TRUE_WORDS, Flag, Param, Phone, Text
from groupflier.api.schema import FLAG, INTEGER, STRING, array_of, nullable, object_of
from groups import roster
from groups.actions import describe_memberships
from groups.lookup import membership_for

ACCOUNT = object_of(type=STRING, balance=INTEGER, suspended=FLAG)
ROSTER_ENTRY = object_of(name=STRING, number=STRING, bye=FLAG, owner=FLAG, broadcast=FLAG)
GROUP_ENTRY = object_of(
    name=STRING,
    number=nullable(STRING),
    bye=FLAG,
    sms=FLAG,
    owner=FLAG,
    notify_on_add=FLAG,
    reply_to_owner=FLAG,
    disable_who=FLAG,
    disable_add=FLAG,
    is_public=FLAG,
    invite_code=nullable(STRING),
    description=STRING,
    suspended=FLAG,
    pending=FLAG,
    members=array_of(ROSTER_ENTRY),
)


class MemberGroups(Endpoint):
    path = "member/groups"
    summary = "Returns the groups the member belongs to"
    description = (
        "The member's number, account (null for members who have created no group) and every "
        "group they are in, with its members. `number` of each group is the member's own group "
        "number for it. `pending` (an addition) marks a staged group not yet activated."
    )
    session = SessionRule.REQUIRED
    returns = {"number": STRING, "account": nullable(ACCOUNT), "groups": array_of(GROUP_ENTRY)}

    def act(self, request, args):
        member = request.member
        account, groups = describe_memberships(member)
        return {
            "number": str(member.number),
            "account": balance_of(account) if account else None,
            "groups": groups,
        }


GROUP_NUMBER = "The group number"


class MemberAdd(Endpoint):
    path = "member/add"
    summary = "Add a member to the group"
    description = (
        "Adds `number` as `name` to the caller's group `group` and texts them a welcome "
        "(saying who added them and how to leave). With notify_on_add the other members are "
        "told. Only the owner adds when disable_add is set. A number that had left the group "
        "(bye) comes back in under the new name. An administrator's suspension stops adds "
        "(`SUSPENDED`, an addition). An account adds at most "
        "GROUPFLIER_BUDGET_ADDS_PER_ACCOUNT members a day (`THROTTLE`)."
    )
    session = SessionRule.REQUIRED
    params = [
        Phone("group", description=GROUP_NUMBER),
        Text("name", max_length=30, description="The name of the new member"),
        Phone("number", description="The number of the new member"),
    ]
    errors = (
        ErrorType.MEMBER_LOOKUP_FAILED,
        ErrorType.DISABLED_ADD,
        ErrorType.GROUP_FLIER_NUMBER,
        ErrorType.BLOCKED_NUMBER,
        ErrorType.DUP_NUMBER,
        ErrorType.DUP_NAME,
        ErrorType.TOO_MANY_MEMBERS,
        ErrorType.SUSPENDED,
        ErrorType.THROTTLE,
    )

    def act(self, request, args):
        roster.add_member(membership_for(request.member, args.group), args.name, args.number)


class MemberRemove(Endpoint):
    path = "member/remove"
    summary = "Remove a member from the group"
    description = "The owner removes a member, who is told by text. The number may be added again."
    session = SessionRule.REQUIRED
    params = [
        Phone("group", description=GROUP_NUMBER),
        Phone("number", description="The number to remove"),
    ]
    errors = (
        ErrorType.MEMBER_LOOKUP_FAILED,
        ErrorType.NOT_FOUND,
        ErrorType.NOT_OWNER,
        ErrorType.NOT_SELF,
    )

    def act(self, request, args):
        roster.remove_member(membership_for(request.member, args.group), number=args.number)


class SmsState(Param):
    """The delivery state takes only 0 or 1 (SPEC §3)."""

    error_types = (ErrorType.INVALID_SMS_STATE,)
    openapi_type = {"type": "string", "enum": ["0", "1"]}

    def convert(self, value: str) -> bool:
        if value not in ("0", "1"):
            raise ApiError(ErrorType.INVALID_SMS_STATE)
        return value == "1"


class BroadcastFlag(Flag):
    error_types = (ErrorType.INVALID_BROADCAST,)

    def convert(self, value: str) -> bool:
        word = value.lower()
        if word not in TRUE_WORDS + FALSE_WORDS:
            raise ApiError(ErrorType.INVALID_BROADCAST)
        return word in TRUE_WORDS


class MemberSet(Endpoint):
    path = "member/set"
    summary = "Update the member information"
    description = (
        "Changes the caller's own name and SMS delivery (`sms`: 1 texts, 0 none) in the group; "
        "the owner may change another member's by passing their `number`, and alone grants "
        "`broadcast` (speaking to everyone in a reply_to_owner group)."
    )
    session = SessionRule.REQUIRED
    params = [
        Phone("group", description=GROUP_NUMBER),
        Phone("number", required=False, description="Another member's number (owner only)"),
        Text("name", required=False, max_length=30, description="The name of the member"),
        SmsState("sms", required=False, description="SMS delivery state, 0 or 1"),
        BroadcastFlag("broadcast", required=False, description="Can they broadcast"),
    ]
    errors = (
        ErrorType.MEMBER_LOOKUP_FAILED,
        ErrorType.NOT_OWNER,
        ErrorType.INVALID_BROADCAST,
        ErrorType.NAME_IN_USE,
    )

    def act(self, request, args):
        roster.set_member(
            membership_for(request.member, args.group),
            number=args.number,
            name=args.name,
            sms=args.sms,
            broadcast=args.broadcast,
        )


class MemberBye(Endpoint):
    path = "member/bye"
    summary = "Leave a group"
    description = (
        "The caller gets no more texts from the group until /member/hi; they keep their seat, "
        "name and group number. Leaving twice is not an error."
    )
    session = SessionRule.REQUIRED
    params = [Phone("group", description=GROUP_NUMBER)]
    errors = (ErrorType.MEMBER_LOOKUP_FAILED,)

    def act(self, request, args):
        roster.leave(membership_for(request.member, args.group))


class MemberHi(Endpoint):
    path = "member/hi"
    summary = "Re-join a group"
    description = "The caller, who had left the group, is back in. Not an error if they never left."
    session = SessionRule.REQUIRED
    params = [Phone("group", description=GROUP_NUMBER)]
    errors = (ErrorType.MEMBER_LOOKUP_FAILED,)

    def act(self, request, args):
        roster.rejoin(membership_for(request.member, args.group))
