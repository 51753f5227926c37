from groupflier.api.endpoint import Endpoint, SessionRule
from groupflier.api.errors import ErrorType
from groupflier.api.params import TRUE_WORDS, Email, Flag, NumberedPairs, Phone, Text, read_raw
from groupflier.api.schema import FLAG, STRING
from groups import actions


class GroupCreate(Endpoint):
    path = "group/create"
    summary = "Create a group"
    description = (
        "Creates a group of the creator and at least one more member. Without the creator's "
        "`sid` the group is staged (pending) until the creator proves the number with a PIN "
        "(`send_pin=1` texts one) through /group/set; a creator holds at most 3 pending groups."
    )
    session = SessionRule.OPTIONAL
    params = [
        Text("group", max_length=30, description="The name of the group"),
        Text("name", max_length=30, description="The name of the group creator"),
        Phone("number", description="The mobile number of the group creator"),
        Email("email", required=False, description="The email address of the group creator"),
        NumberedPairs("members", last=100, max_length=30),
        Text("source", required=False, max_length=100, description="The creating application"),
        Flag("reply_to_owner", required=False, description="Messages only go to the creator"),
        Flag("send_pin", required=False, description="Text the creator a PIN"),
    ]
    errors = (
        ErrorType.GROUP_FLIER_NUMBER,
        ErrorType.BLOCKED_NUMBER,
        ErrorType.DUP_NUMBER,
        ErrorType.DUP_NAME,
        ErrorType.NOT_ENOUGH_MEMBERS,
        ErrorType.TOO_MANY_MEMBERS,
        ErrorType.TOO_MANY_PENDING_GROUPS,
        ErrorType.THROTTLE,
    )
    returns = {"number": STRING, "first_group": FLAG}

    def throttle_applies(self, raw):
        # Only the calls that text a PIN spend the per-address budget (SPEC §6).
        return (read_raw(raw, "send_pin") or "").lower() in TRUE_WORDS

    def act(self, request, args):
        created = actions.create_group(
            actions.NewGroup(
                name=args.group,
                creator_name=args.name,
                creator_number=args.number,
                members=args.members,
                email=args.email,
                source=args.source,
                reply_to_owner=bool(args.reply_to_owner),
                send_pin=bool(args.send_pin),
            ),
            session_member=request.member,
        )
        return {
            "number": str(created.creator.address.number),
            "first_group": actions.flag(created.first_group),
        }
