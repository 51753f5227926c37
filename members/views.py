"""The /member/* endpoints of a member's own session: finding a number, logging in and out.
Those that act on the member's groups (their list, the roster) are groups' (groups.member_views):
they sit with the roster they call, above this app."""

from groupflier.api.endpoint import Endpoint, SessionRule
from groupflier.api.errors import ErrorType
from groupflier.api.params import Phone, Secret, Text
from groupflier.api.schema import FLAG, STRING, flag
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
        return {"has_password": flag(actions.has_password(member))}


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
    throttled = True  # the lockout is per number; this stops spraying guesses across numbers

    def act(self, request, args):
        return {"sid": actions.login(args.number, args.pin, args.source or "")}


class MemberLogout(Endpoint):
    path = "member/logout"
    summary = "Logout a member"
    session = SessionRule.REQUIRED

    def act(self, request, args):
        sessions.end_session(request.sid)
