"""The web app's pages (SPEC §9). Each page is a static shell: everything a person sees
comes from the public JSON API, called by the browser like any mobile client. Only the
development phone page has endpoints of its own, and only with the console gateway.
"""

from functools import wraps

from django.http import HttpResponseNotFound, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from groupflier import phones as phone_numbers
from groupflier.api.errors import ApiError
from groups.models import PoolNumber
from messaging.gateways.base import get_gateway
from messaging.gateways.console import ConsoleGateway
from messaging.inbound import Inbound, receive_and_text_back
from messaging.models import InboundSms, OutboxMessage

# Nothing from outside the server, and no inline script: a page that tried would be refused.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# The newest texts the phone page shows, in and out.
PHONE_PAGE_TEXTS = 500


def _page(request, template):
    response = render(request, template)
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["Cache-Control"] = "no-cache"  # the shell is tiny; its assets are cached a year
    return response


@require_GET
def app(request, invite_code=None):
    """/app/ and /app/join/<invite_code>: the same shell; the script reads the address."""
    return _page(request, "webapp/app.html")


def console_only(view):
    """The phone page reads the console gateway's outbox: with a real gateway there is none,
    and texting in as anyone would be a hole."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not isinstance(get_gateway(), ConsoleGateway):
            return HttpResponseNotFound(
                "The development phone page exists only with the console SMS gateway "
                "(GROUPFLIER_SMS_GATEWAY unset).",
                content_type="text/plain",
            )
        return view(request, *args, **kwargs)

    return wrapper


@require_GET
@console_only
def phones(request):
    return _page(request, "webapp/phones.html")


@require_GET
@console_only
def phone_texts(request):
    """Every phone's texts, as the phone shows them: received from the service's numbers
    (the console gateway's outbox) and sent to them (inbound texts), oldest first."""
    received = OutboxMessage.objects.order_by("-id")[:PHONE_PAGE_TEXTS]
    sent = InboundSms.objects.order_by("-id")[:PHONE_PAGE_TEXTS]
    texts = [
        {
            "phone": text.to,
            "other": text.from_number,
            "direction": "received",
            "text": text.text,
            "time": text.created_at.timestamp(),
        }
        for text in received
    ] + [
        {
            "phone": text.sender,
            "other": text.to_number,
            "direction": "sent",
            "text": text.text,
            "time": text.received_at.timestamp(),
        }
        for text in sent
    ]
    texts.sort(key=lambda text: text["time"])
    numbers = PoolNumber.objects.filter(active=True).values_list("number", flat=True)
    return JsonResponse({"service_numbers": [str(number) for number in numbers], "texts": texts})


@require_POST
@console_only
def phone_send(request):
    """A text typed on a phone: in through the same path as a gateway's webhook."""
    sender = request.POST.get("from", "").strip()
    to_number = request.POST.get("to", "").strip()
    text = request.POST.get("text", "")
    problems = {}
    try:
        sender = phone_numbers.normalize(sender)
    except ApiError:
        problems["from"] = "Enter the phone number that sends the text."
    if not text.strip():
        problems["text"] = "Type the text to send."
    if problems:
        return JsonResponse({"status": "ERROR", "problems": problems}, status=400)
    reply = receive_and_text_back(
        Inbound(sender=sender, to_number=to_number, text=text, gateway="console")
    )
    return JsonResponse({"status": "OK", "reply": reply})
