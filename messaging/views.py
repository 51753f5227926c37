from django.utils import timezone

from groupflier.api.endpoint import Endpoint, SessionRule
from groupflier.api.errors import ErrorType
from groupflier.api.params import Flag, MessageId, Phone, Text
from groupflier.api.schema import FLAG, INTEGER, STRING, array_of, flag, nullable, object_of
from groups.lookup import membership_for, message_counts
from messaging import actions, history, schedule

MESSAGE = Text(
    "message",
    max_length=150,
    too_long=ErrorType.MESSAGE_TOO_LONG,
    echo=False,
    description="The message to send",
)
CC = Flag("cc", required=False, description="cc me a copy as a SMS or device notification")


class MessageCount(Endpoint):
    path = "message/count"
    summary = "Get a count of the messages in each group"
    session = SessionRule.REQUIRED
    params = [Phone("number", required=False, description="Count this group number only")]
    errors = (ErrorType.MEMBER_LOOKUP_FAILED,)
    returns = {"results": array_of(object_of(number=STRING, count=INTEGER))}

    def act(self, request, args):
        if args.number:
            found = membership_for(request.member, args.number)
            counts = [(str(found.address.number) if found.address else "", found.message_count)]
        else:
            counts = message_counts(request.member)
        return {"results": [{"number": number, "count": count} for number, count in counts]}


MESSAGE_ENTRY = object_of(
    id=INTEGER, txt=STRING, time=INTEGER, name=nullable(STRING), number=nullable(STRING)
)
# Optional: only on the messages whose receipts the caller may see.
MESSAGE_ENTRY["properties"]["receipts"] = object_of(**dict.fromkeys(actions.RECEIPT_KEYS, INTEGER))


class MessageGet(Endpoint):
    path = "message/get"
    summary = "Get message(s)"
    description = (
        "Without a range: the latest 100 messages. With message_from and/or message_to: at most "
        "500, oldest first, from the lower bound. `name` and `number` of the sender are "
        "additions (null for system notices). `receipts` (an addition), on the messages the "
        "caller sent and, for the owner, on every message: how many recipients' texts are "
        "pending, sent, delivered, failed (undelivered included), skipped or unknown."
    )
    session = SessionRule.REQUIRED
    params = [
        Phone("number", description="The group number to get the messages for"),
        MessageId("message_id", required=False, description="The id of the message to get"),
        MessageId("message_from", required=False, description="From this id"),
        MessageId("message_to", required=False, description="Up to this id"),
    ]
    errors = (ErrorType.MEMBER_LOOKUP_FAILED,)
    returns = {"time": INTEGER, "messages": array_of(MESSAGE_ENTRY)}

    def act(self, request, args):
        membership = membership_for(request.member, args.number)
        found = history.messages(membership, args.message_id, args.message_from, args.message_to)
        return {"time": int(timezone.now().timestamp()), "messages": found}


class MessageSend(Endpoint):
    path = "message/send"
    summary = "Send a message"
    description = (
        "Sends to every active member but the sender (the sender too with cc). A message "
        "starting with `*` is a star command: it is not stored or sent; `reply` (an addition) "
        "holds its answer and `refresh` is 1 when it changed the group. `id` (an addition) is "
        "the new message's id."
    )
    session = SessionRule.REQUIRED
    params = [Phone("number", description="The group number to send the message to"), MESSAGE, CC]
    errors = (ErrorType.MEMBER_LOOKUP_FAILED, ErrorType.SUSPENDED)
    optional_returns = {"refresh": FLAG, "reply": STRING, "id": INTEGER}

    def act(self, request, args):
        membership = membership_for(request.member, args.number)
        sent = actions.send(membership, args.message, cc=bool(args.cc))
        if sent.message is not None:
            return {"id": sent.message.seq}
        return {"refresh": flag(sent.refresh), "reply": sent.reply}


class MessageGrandTotal(Endpoint):
    path = "message/grand/total"
    summary = "The grand total of all messages processed by the system"
    returns = {"cnt": INTEGER}

    def act(self, request, args):
        return {"cnt": actions.grand_total()}


class WhenParam(Text):
    error_types = (ErrorType.INVALID_WHEN,)

    def convert(self, value):
        return schedule.parse_when(value)


class MessageSchedule(Endpoint):
    path = "message/schedule"
    summary = "Schedule a message for later delivery"
    session = SessionRule.REQUIRED
    params = [
        Phone("number", description="The group number to send the message to"),
        MESSAGE,
        CC,
        WhenParam(
            "when",
            max_length=100_000,
            description="Comma-delimited UTC times, each YYYY-MM-DD HH:MM:SS and in the future",
        ),
    ]
    errors = (ErrorType.MEMBER_LOOKUP_FAILED, ErrorType.NOT_OWNER, ErrorType.SUSPENDED)

    def act(self, request, args):
        membership = membership_for(request.member, args.number)
        schedule.schedule(membership, args.message, args.when, cc=bool(args.cc))


class MessageScheduleList(Endpoint):
    path = "message/schedule/list"
    summary = "List the scheduled messages"
    session = SessionRule.REQUIRED
    params = [Phone("number", description="The group number")]
    errors = (ErrorType.MEMBER_LOOKUP_FAILED, ErrorType.NOT_OWNER)
    returns = {"messages": array_of(object_of(id=INTEGER, txt=STRING, when=STRING))}

    def act(self, request, args):
        membership = membership_for(request.member, args.number)
        return {
            "messages": [
                {"id": item.pk, "txt": item.text, "when": schedule.format_when(item.when)}
                for item in schedule.pending(membership)
            ]
        }


class MessageScheduleDelete(Endpoint):
    path = "message/schedule/delete"
    summary = "Delete a scheduled message"
    session = SessionRule.REQUIRED
    params = [
        Phone("number", description="The group number"),
        MessageId("message_id", description="The scheduled message id"),
    ]
    errors = (ErrorType.MEMBER_LOOKUP_FAILED, ErrorType.NOT_FOUND, ErrorType.NOT_OWNER)

    def act(self, request, args):
        membership = membership_for(request.member, args.number)
        schedule.delete(membership, args.message_id)


ENDPOINTS = [
    MessageCount,
    MessageGet,
    MessageSend,
    MessageGrandTotal,
    MessageSchedule,
    MessageScheduleList,
    MessageScheduleDelete,
]
