"""Twilio's webhooks, mounted at ``/webhooks/twilio/`` (SPEC §4, §8).

- ``inbound``: configured as each pool number's "A message comes in" URL. Twilio posts the
  text (``From``, ``To``, ``Body``, ``NumMedia``, ``MessageSid``); it is routed by (sender,
  number texted) through ``messaging.inbound.receive_and_text_back``, and the answer is an
  empty TwiML ``<Response/>`` at once. A reply to the texter (a star command's answer, help,
  the note that pictures are not carried) goes as a system text ``From`` the number they
  texted, through the same pipeline as every text: rate-limited with the rest (a TwiML reply
  would reach the number's rate unseen by our limiter), retried, and recorded. Twilio itself
  answers STOP, START and HELP on its numbers and then refuses texts to a stopped number
  (21610), so where it did, our own STOP confirmation fails with 21610; the block is recorded
  all the same.
- ``status``: the ``StatusCallback`` of every part the backend sends. ``delivered``,
  ``undelivered`` and ``failed`` (with ``ErrorCode``) become the part's receipt
  (``messaging.receipts``); Twilio's intermediate statuses (``queued``, ``sent``...) are
  acknowledged and ignored.

Both refuse (403) a request without a valid ``X-Twilio-Signature`` for
``GROUPFLIER_PUBLIC_URL`` + the path (Twilio's ``RequestValidator``), and both take a repeated
callback as one: a text by its ``MessageSid``, a receipt by the part's state.
"""

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from messaging.gateways.base import get_gateway
from messaging.gateways.twilio.backend import TwilioGateway, setting
from messaging.inbound import Inbound, receive_and_text_back
from messaging.receipts import RECEIPT_STATUSES, record_receipt
from texts.actions import queue_system_sms
from texts.models import OutboundSms

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
NO_PICTURES = (
    "GroupFlier carries text only: the pictures or other media in your message were not sent."
)
# Twilio may post the same text again (a timeout on our side, its retry): one MessageSid is
# taken once within this window.
SEEN_SECONDS = 24 * 3600


def auth_token() -> str:
    """The configured Twilio gateway's token (GROUPFLIER_SMS_GATEWAY_OPTIONS may set it), else
    TWILIO_AUTH_TOKEN: a service that has just moved off Twilio still checks late callbacks."""
    try:
        gateway = get_gateway()
    except ImproperlyConfigured:
        gateway = None
    if isinstance(gateway, TwilioGateway):
        return gateway.auth_token
    return setting("TWILIO_AUTH_TOKEN")


def signed_by_twilio(request) -> bool:
    """Whether ``X-Twilio-Signature`` signs this request for the service's public address."""
    token, public = auth_token(), settings.GROUPFLIER_PUBLIC_URL
    signature = request.headers.get("X-Twilio-Signature", "")
    if not (token and public and signature):
        return False
    url = public.rstrip("/") + request.get_full_path()
    return RequestValidator(token).validate(url, request.POST, signature)


def refused() -> HttpResponse:
    return HttpResponse(
        "Forbidden: no valid X-Twilio-Signature", status=403, content_type="text/plain"
    )


def twiml(body: str = EMPTY_TWIML) -> HttpResponse:
    return HttpResponse(body, content_type="text/xml")


@csrf_exempt
@require_POST
def inbound(request):
    if not signed_by_twilio(request):
        return refused()
    fields = request.POST
    sender, to_number = fields.get("From", ""), fields.get("To", "")
    sid = fields.get("MessageSid") or fields.get("SmsSid", "")
    if not sender or (sid and not cache.add(f"twilio:inbound:{sid}", 1, SEEN_SECONDS)):
        return twiml()  # nothing to route, or a text taken already
    try:
        if fields.get("Body", "").strip():
            receive_and_text_back(
                Inbound(sender=sender, to_number=to_number, text=fields["Body"], gateway="twilio")
            )
        if _media_count(fields) > 0:
            queue_system_sms(sender, NO_PICTURES, OutboundSms.Kind.REPLY, from_number=to_number)
    except BaseException:
        cache.delete(f"twilio:inbound:{sid}")  # not taken: Twilio's retry may have it
        raise
    return twiml()


def _media_count(fields) -> int:
    count = fields.get("NumMedia", "0")
    return int(count) if count.isdigit() else 0


@csrf_exempt
@require_POST
def status(request):
    if not signed_by_twilio(request):
        return refused()
    sid = request.POST.get("MessageSid") or request.POST.get("SmsSid", "")
    state = request.POST.get("MessageStatus") or request.POST.get("SmsStatus", "")
    if sid and state in RECEIPT_STATUSES:
        record_receipt(sid, state, request.POST.get("ErrorCode", ""))
    return HttpResponse("", content_type="text/plain")  # Twilio reads only the 200


urlpatterns = [
    path("inbound", inbound, name="twilio-inbound"),
    path("inbound/", inbound),
    path("status", status, name="twilio-status"),
    path("status/", status),
]
