"""Group Texting's inbound webhooks, served at ``/webhooks/grouptexting/<secret>/keyword`` and
``.../inbox`` (``GROUPTEXTING_WEBHOOK_SECRET``; with no secret set, both answer 404): each
turns the provider's request into one ``messaging.inbound.Inbound``.

Group Texting (seed: "Receiving Keyword Submissions" and "Receiving Inbox Message Replies")
calls a keyword URL with ``PhoneNumber`` and ``Message`` and a forwarding URL with ``from``
and ``message``, by GET (we take POST too), and sends our plain-text answer (at most 160
characters of its allowed set) back to the texter as an auto-reply. It must have 200 OK
within 60 seconds: only the routing happens here; the fan-out is the workers'.
"""

import hmac

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from groupflier.api.handlers import not_found
from groupflier.backends import provider_setting
from messaging.gateways.grouptexting.text import MAX_LENGTH, to_plain, weighted_length
from messaging.inbound import Inbound, receive

GROUPTEXTING_FIELDS = {"keyword": ("phonenumber", "message"), "inbox": ("from", "message")}


def grouptexting_reply(text: str | None) -> str:
    """The auto-reply body: one line of allowed characters within the 160 the provider counts."""
    if not text:
        return ""
    plain = " ".join(to_plain(text).split())
    if weighted_length(plain) <= MAX_LENGTH:
        return plain
    while weighted_length(plain + "...") > MAX_LENGTH:
        plain = plain[:-1]
    return plain.rstrip() + "..."


@csrf_exempt
@require_http_methods(["GET", "POST"])
def grouptexting(request, secret: str, kind: str):
    expected = provider_setting("GROUPTEXTING_WEBHOOK_SECRET", "")
    # A wrong secret looks exactly like a path that does not exist.
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        return not_found(request)
    if kind not in GROUPTEXTING_FIELDS:
        return not_found(request)
    # The seed spells the fields both "From" and "from": match them without case.
    fields = {**request.GET.dict(), **request.POST.dict()}
    given = {key.lower(): value for key, value in fields.items()}
    sender_field, text_field = GROUPTEXTING_FIELDS[kind]
    sender, text = given.get(sender_field, "").strip(), given.get(text_field, "")
    if not sender or not text.strip():
        return HttpResponse("", content_type="text/plain")
    reply = receive(Inbound(sender=sender, text=text, gateway="grouptexting"))
    return HttpResponse(grouptexting_reply(reply), content_type="text/plain")


urlpatterns = [path("<str:secret>/<str:kind>", grouptexting)]
