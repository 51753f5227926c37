from groupflier.api import throttles
from groupflier.api.endpoint import Endpoint, SessionRule, client_address
from groupflier.api.errors import ApiError, ErrorType
from groupflier.api.params import (
    Email,
    Flag,
    NumberedPairs,
    Paired,
    Param,
    Phone,
    Secret,
    Text,
    read_raw,
)
from groupflier.api.schema import FLAG, INTEGER, STRING, array_of, flag, object_of
from groups import actions
from groups.lookup import membership_for


class PairedSecret(Paired, Secret):
    pass


class PairedPhone(Paired, Phone):
    pass


class InviteCode(Param):
    """A code the owner chooses: 4 to 50 letters, digits, underscores and dashes."""

    error_types = (ErrorType.INVALID_INVITE_CODE,)
    openapi_type = {"type": "string", "pattern": "^[A-Za-z0-9_-]{4,50}$"}

    def convert(self, value: str) -> str:
        if not actions.is_valid_invite_code(value):
            raise ApiError(ErrorType.INVALID_INVITE_CODE)
        return value


class Search(Param):
    error_types = (ErrorType.SHORT_SEARCH,)

    def convert(self, value: str) -> str:
        if len(value) < actions.SHORT_SEARCH_LENGTH:
            raise ApiError(ErrorType.SHORT_SEARCH)
        return value


class JoinName(Text):
    """Required unless the invite code opens a reply_to_owner group (the seed's /group/join)."""

    can_be_missing = True

    def missing(self, raw: dict) -> list[str]:
        if read_raw(raw, self.name) is not None:
            return []
        return [self.name] if actions.name_required_to_join(read_raw(raw, "invite_code")) else []


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

    throttled = True  # every call, with or without send_pin or a sid (SPEC §6)

    def act(self, request, args):
        if request.member is None or str(request.member.number) != args.number:
            # A staged group: anyone can make one, and a new account with it.
            throttles.check_staged_creations(client_address(request))
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
            "first_group": flag(created.first_group),
        }


class GroupSet(Endpoint):
    path = "group/set"
    summary = "Update the group settings"
    description = (
        "The owner changes any of the optional settings of the group `number` (their own group "
        "number). Answers the group's invite code, made up the first time if none was chosen. "
        "Instead of a `sid`, the creator of a staged group may pass the `pin` texted by "
        "/group/create (`send_pin=1`) or /member/find with `pin_number`: the staged group "
        "`number` names goes live (no other staged group of theirs) and the answer carries a "
        "fresh `sid`. A wrong PIN counts toward the "
        "lockout of /member/login. `sid` in the answer (an addition) is the session to use from "
        "now on."
    )
    session = SessionRule.REQUIRED  # or pin + pin_number in its place
    params = [
        PairedSecret("pin", partner="pin_number", description="The PIN from send_pin"),
        PairedPhone("pin_number", partner="pin", description="The number the PIN was sent to"),
        Phone("number", description="The group number"),
        Text("name", required=False, max_length=30, description="The name of the group"),
        Flag("notify_on_add", required=False, description="Tell the group of new members"),
        Flag("reply_to_owner", required=False, description="Messages only go to the owner"),
        Flag("disable_who", required=False, description="No *who for group members"),
        Flag("disable_add", required=False, description="No *add for group members"),
        InviteCode("invite_code", required=False, description="The invitation code"),
        Flag("is_public", required=False, description="Make this a public group"),
        Text(
            "description",
            required=False,
            max_length=150,
            too_long=ErrorType.DESCRIPTION_TOO_LONG,
            echo=False,
            description="Description of the group",
        ),
    ]
    errors = (
        ErrorType.INVALID_PIN,
        ErrorType.LOCKOUT,
        ErrorType.MEMBER_LOOKUP_FAILED,
        ErrorType.NOT_OWNER,
        ErrorType.USED_INVITE_CODE,
        ErrorType.CANT_MAKE_PUBLIC,
        ErrorType.THROTTLE,
    )
    returns = {"invite_code": STRING, "sid": STRING}

    @classmethod
    def all_params(cls):
        sid, *others = super().all_params()
        sid.required = False  # pin + pin_number stand in for it
        return [sid, *others]

    def resolve_session(self, raw):
        if read_raw(raw, "pin") is not None or read_raw(raw, "pin_number") is not None:
            self.session = SessionRule.OPTIONAL  # the PIN proves the number instead
        return super().resolve_session(raw)

    def act(self, request, args):
        changes = actions.GroupSettings(
            name=args.name,
            notify_on_add=args.notify_on_add,
            reply_to_owner=args.reply_to_owner,
            disable_who=args.disable_who,
            disable_add=args.disable_add,
            invite_code=args.invite_code,
            is_public=args.is_public,
            description=args.description,
        )
        if args.pin is not None:
            group, sid = actions.update_group_with_pin(
                args.pin_number, args.pin, args.number, changes
            )
        else:
            group = actions.update_group(membership_for(request.member, args.number), changes)
            sid = request.sid
        return {"invite_code": group.invite_code, "sid": sid}


class GroupDelete(Endpoint):
    path = "group/delete"
    summary = "Delete the group"
    description = (
        "The owner deletes the group: its members are told, its group numbers and invite code "
        "are free again. The administrator keeps its history."
    )
    session = SessionRule.REQUIRED
    params = [Phone("number", description="The group number to delete")]
    errors = (ErrorType.MEMBER_LOOKUP_FAILED, ErrorType.NOT_OWNER)

    def act(self, request, args):
        actions.delete_group(membership_for(request.member, args.number))


PUBLIC_GROUP = object_of(
    invite_code=STRING,
    name=STRING,
    description=STRING,
    owner=STRING,
    reply_to_owner=FLAG,
    count=INTEGER,
    full=FLAG,
    is_member=FLAG,
)


class GroupList(Endpoint):
    path = "group/list"
    summary = "List public groups"
    description = (
        "Live public groups, at most 50: those whose name or description contains `search` "
        "(at least 3 characters, any case), or the `newest`, or else the biggest first. "
        "`search` wins when both are given. `count` counts every member, including those who "
        "left (they keep their seat); `is_member` says whether `number` is in the group and "
        "has not left it."
    )
    params = [
        Search("search", required=False, description="Search expression"),
        Flag("newest", required=False, description="Get the most recent groups"),
        Phone("number", required=False, description="Users phone number"),
    ]
    returns = {"groups": array_of(PUBLIC_GROUP)}
    throttled = True

    def act(self, request, args):
        groups = actions.list_public_groups(
            search=args.search, newest=bool(args.newest), number=args.number
        )
        return {"groups": groups}


class GroupJoin(Endpoint):
    path = "group/join"
    summary = "Join a group"
    description = (
        "Joins `number` to the group the invite code (any case) opens, and texts them a "
        "welcome. Without a `name`, which only a reply_to_owner group allows, the member is "
        "called `Member` and the last four digits of the number. Someone who had left the "
        "group comes back in. `number` in the answer (an addition) is the joiner's group "
        "number."
    )
    params = [
        Param("invite_code", description="The invitation code"),
        JoinName("name", required=False, max_length=30, description="Your name"),
        Phone("number", description="Your phone number"),
    ]
    errors = (
        ErrorType.NOT_FOUND,
        ErrorType.GROUP_FLIER_NUMBER,
        ErrorType.BLOCKED_NUMBER,
        ErrorType.DUP_NUMBER,
        ErrorType.DUP_NAME,
        ErrorType.TOO_MANY_MEMBERS,
    )
    returns = {"name": STRING, "number": STRING}
    throttled = True

    def act(self, request, args):
        membership = actions.join_group(args.invite_code, args.name, args.number)
        return {"name": membership.group.name, "number": str(membership.address.number)}


class GroupInviteCheck(Endpoint):
    path = "group/invite/check"
    summary = "Check an invitation code"
    params = [Param("invite_code", description="The invitation code")]
    errors = (ErrorType.NOT_FOUND, ErrorType.TOO_MANY_MEMBERS)
    returns = {"name": STRING, "reply_to_owner": FLAG, "disable_who": FLAG}
    throttled = True

    def act(self, request, args):
        group = actions.check_invite(args.invite_code)
        return {
            "name": group.name,
            "reply_to_owner": flag(group.reply_to_owner),
            "disable_who": flag(group.disable_who),
        }
