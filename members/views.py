from accounts.actions import describe_account
from groupflier.api.endpoint import Endpoint, SessionRule
from groupflier.api.errors import ErrorType
from groupflier.api.params import Phone, Secret, Text
from groupflier.api.schema import FLAG, INTEGER, STRING, array_of, nullable, object_of
from groups.actions import describe_memberships
from members import actions, sessions


class MemberFind(Endpoint):
    path = "member/find"
    summary = "Find a member and send them a login PIN"
    params = [Phone("number", description="The mobile number")]
    errors = (ErrorType.NOT_FOUND, ErrorType.BLOCKED_NUMBER, ErrorType.THROTTLE)
    returns = {"has_password": FLAG}
    throttled = True

    def act(self, request, args):
        member = actions.find_member(args.number)
        return {"has_password": 1 if actions.has_password(member) else 0}


class MemberLogin(Endpoint):
    path = "member/login"
    summary = "Login a member"
    description = (
        "Logs in with the PIN texted by /member/find (or /group/create with send_pin) or the "
        "account password. Five failures within 15 minutes lock the number out for 15 minutes."
    )
    params = [
        Phone("number", description="The mobile number"),
        Secret("pin", description="The PIN number or account password"),
        Text("source", required=False, max_length=100, description="The logging-in application"),
    ]
    errors = (ErrorType.INVALID_PIN, ErrorType.LOCKOUT)
    returns = {"sid": STRING}

    def act(self, request, args):
        return {"sid": actions.login(args.number, args.pin, args.source or "")}


class MemberLogout(Endpoint):
    path = "member/logout"
    summary = "Logout a member"
    session = SessionRule.REQUIRED

    def act(self, request, args):
        sessions.end_session(request.sid)


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
        return {
            "number": str(member.number),
            "account": describe_account(member),
            "groups": describe_memberships(member),
        }
