"""Star commands (SPEC §3): a text whose first character is `*` acts on the group and answers
its sender alone; it is neither stored nor fanned out. The same commands work through
/message/send and by SMS, through the same roster actions as the API's member calls.
"""

import re

from groupflier import phones
from groupflier.api.errors import ApiError, ErrorType
from groups import roster
from groups.models import Membership
from messaging.actions import Sent
from texts.marks import name_commands

HELP = (
    "Commands: *who lists members, *add NAME NUMBER, *remove NAME or NUMBER, *name NEWNAME, "
    "*bye leaves the group, *hi comes back. Text STOP to stop all texts."
)

# "*add Aunt May (415) 555-0100": the name is everything before the number.
ADD = re.compile(r"^(?P<name>.+?)\s+(?P<number>\+?[\d(][\d\s().-]*\d)$")

REFUSALS = {
    ErrorType.NOT_OWNER: "Only the group's owner can do that.",
    ErrorType.DISABLED_ADD: "The owner has turned *add off for this group.",
    ErrorType.NOT_SELF: "You can't remove yourself: text *bye to leave.",
    ErrorType.NOT_FOUND: "There is no member {subtype} in this group.",
    ErrorType.DUP_NUMBER: "{subtype} is already in the group.",
    ErrorType.DUP_NAME: "Someone in the group already goes by {subtype}.",
    ErrorType.NAME_IN_USE: "Someone in the group already goes by that name.",
    ErrorType.TOO_MANY_MEMBERS: "The group is full.",
    ErrorType.INVALID_NUMBER: "{subtype} is not a phone number.",
    ErrorType.BLOCKED_NUMBER: "{subtype} has asked not to get any texts.",
    ErrorType.GROUP_FLIER_NUMBER: "That is a group number, not a person's.",
    ErrorType.TOO_LONG: "Names are at most 30 characters.",
    ErrorType.SUSPENDED: "This group is suspended.",
    ErrorType.MEMBER_LOOKUP_FAILED: "You are no longer in this group.",
    ErrorType.THROTTLE: "Too many members were added today: try again tomorrow.",
}


def run(membership: Membership, text: str) -> Sent:
    word, _, rest = text[1:].strip().partition(" ")
    handler = COMMANDS.get(word.lower(), show_help)
    try:
        sent = handler(membership, rest.strip())
    except ApiError as refusal:
        return Sent(reply=explain(refusal))
    sent.reply = name_commands(sent.reply)
    return sent


def explain(refusal: ApiError) -> str:
    template = REFUSALS.get(refusal.error_type, "That did not work ({token}).")
    text = template.format(subtype=refusal.subtype or "", token=refusal.error_type.value)
    return name_commands(text)


def show_help(membership: Membership, rest: str) -> Sent:
    return Sent(reply=HELP)


def who(membership: Membership, rest: str) -> Sent:
    group = membership.group
    if group.disable_who and membership.member_id != group.owner_id:
        return Sent(reply="The owner has turned *who off for this group.")
    names = []
    for other in group.memberships.select_related("member").order_by("id"):
        label = other.name
        if other.member_id == group.owner_id:
            label += " (owner)"
        if other.bye:
            label += " (left)"
        names.append(label)
    return Sent(reply=f"{group.name}: " + ", ".join(names))


def add(membership: Membership, rest: str) -> Sent:
    match = ADD.match(rest)
    if not match:
        return Sent(reply="To add someone text *add NAME NUMBER, e.g. *add Kim 4155550100")
    name = match["name"].strip()
    if len(name) > 30:
        raise ApiError(ErrorType.TOO_LONG, name)
    added = roster.add_member(membership, name, phones.normalize(match["number"]))
    return Sent(reply=f"{added.name} is now in {membership.group.name}.", refresh=True)


def remove(membership: Membership, rest: str) -> Sent:
    if not rest:
        return Sent(reply="To remove someone text *remove NAME or *remove NUMBER")
    try:
        removed = roster.remove_member(membership, number=phones.normalize(rest))
    except ApiError as not_a_number:
        if not_a_number.error_type is not ErrorType.INVALID_NUMBER:
            raise
        removed = roster.remove_member(membership, name=rest)
    return Sent(reply=f"{removed.name} is no longer in {membership.group.name}.", refresh=True)


def bye(membership: Membership, rest: str) -> Sent:
    changed = roster.leave(membership)
    return Sent(reply=f"You left {membership.group.name}. Text *hi to come back.", refresh=changed)


def hi(membership: Membership, rest: str) -> Sent:
    changed = roster.rejoin(membership)
    return Sent(reply=f"Welcome back to {membership.group.name}.", refresh=changed)


def name(membership: Membership, rest: str) -> Sent:
    if not rest:
        return Sent(reply="To change your name text *name NEWNAME")
    if len(rest) > 30:
        raise ApiError(ErrorType.TOO_LONG, rest)
    roster.rename(membership, rest)
    return Sent(reply=f"You are now {rest} in {membership.group.name}.", refresh=True)


COMMANDS = {
    "who": who,
    "add": add,
    "remove": remove,
    "bye": bye,
    "hi": hi,
    "name": name,
    "help": show_help,
}
