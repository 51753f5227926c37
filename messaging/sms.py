"""Handing the service's own texts (``texts``: PINs, welcomes, notices, replies) to the
gateway: the row pipeline of kind "texts", with the same claim, retry, hand-off log and sweep
as group messages. A PIN's stored text is masked once the gateway has it (SPEC §6).
"""

from groupflier.pipeline import rows
from groups.models import PoolNumber
from members.models import Member
from messaging.gateways.base import SMS_GATEWAY, GatewayError, get_gateway
from messaging.gateways.state import apply_recipient_effect, is_paused
from texts.actions import blocked, within_cap
from texts.models import OutboundSms

MASKED_PIN = "Your GroupFlier PIN is ******"


class SystemTextPipeline(rows.Pipeline):
    kind = "texts"
    model = OutboundSms
    columns = ("to", "from_number", "text", "kind")
    reason_field = "error"
    errors = (GatewayError,)

    def paused(self) -> bool:
        return is_paused(get_gateway())

    def command_mark(self) -> str:
        """The mark the configured gateway's texts name commands with (``texts.marks``)."""
        return SMS_GATEWAY.resolve().command_mark

    def prepare(self, parts):
        return get_gateway()

    def hand_off(self, part, gateway) -> str:
        if PoolNumber.objects.filter(number=part.to).exists():
            raise rows.Skip("a service pool number: texting it would loop")
        if part.kind != OutboundSms.Kind.STOP_CONFIRMATION and blocked(part.to):
            raise rows.Skip("the number has opted out (STOP)")
        wait = within_cap()
        if wait is not None:
            raise rows.Wait("the service-wide cap on system texts holds it", wait)
        return gateway.send(part.to, part.text, from_number=part.from_number)

    def after_sent(self, sent):
        # The gateway has the PIN now: the only copy left is on the member's phone.
        OutboundSms.objects.filter(pk__in=[pk for pk, _ in sent], kind=OutboundSms.Kind.PIN).update(
            text=MASKED_PIN
        )

    def after_failed(self, part, error):
        member = Member.objects.filter(number=part.to).first()
        if error is not None and member is not None:
            apply_recipient_effect(error, member)

    def extra_sweep(self, now):
        # A PIN that ended any other way than sent (failed, unknown, skipped) is masked too.
        OutboundSms.objects.filter(
            kind=OutboundSms.Kind.PIN,
            status__in=[rows.FAILED, rows.UNKNOWN, rows.SKIPPED],
        ).exclude(text=MASKED_PIN).update(text=MASKED_PIN)


PIPELINE = rows.register(SystemTextPipeline())
