import threading

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponseBadRequest, JsonResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from groups.models import Group
from messaging import actions, operator
from messaging.models import (
    Delivery,
    GatewayState,
    InboundSms,
    Message,
    OutboxMessage,
    ScheduledMessage,
)
from messaging.sms import MASKED_PIN
from texts.models import OutboundSms


@admin.register(OutboundSms)
class OutboundSmsAdmin(admin.ModelAdmin):
    list_display = ("to", "from_number", "kind", "status", "attempts", "error", "created_at")
    list_filter = ("kind", "status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("to", "from_number")
    date_hierarchy = "created_at"
    # The text is shown through ``shown_text``: a PIN not yet masked (still queued) must not
    # be readable here either (SPEC §6).
    fields = readonly_fields = (
        "to",
        "from_number",
        "shown_text",
        "kind",
        "status",
        "error",
        "attempts",
        "provider_ref",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request):
        return False  # the service writes these as it texts

    @admin.display(description="text")
    def shown_text(self, sms):
        return MASKED_PIN if sms.kind == OutboundSms.Kind.PIN else sms.text


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("to", "from_number", "text", "created_at")
    list_filter = (("created_at", admin.DateFieldListFilter),)
    search_fields = ("to", "from_number", "text")
    readonly_fields = ("to", "from_number", "text", "created_at")

    def has_add_permission(self, request):
        return False  # what the console gateway sent


@admin.register(GatewayState)
class GatewayStateAdmin(admin.ModelAdmin):
    """Whether each SMS gateway sends, why not, and its last known credit balance."""

    list_display = ("gateway", "paused", "reason", "credits", "credits_checked_at", "updated_at")
    search_fields = ("gateway", "reason")
    readonly_fields = ("gateway", "paused", "reason", "credits", "credits_checked_at", "updated_at")
    actions = ["resume_sending", "check_credits_now"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Resume sending")
    def resume_sending(self, request, queryset):
        from messaging.gateways.state import resume_gateway

        resumed = [
            state.gateway
            for state in queryset
            if resume_gateway(state.gateway, by=f"resumed by {request.user}")
        ]
        self.message_user(request, f"Resumed: {', '.join(resumed) or 'none was paused'}")

    @admin.action(description="Check the credit balance now")
    def check_credits_now(self, request, queryset):
        from messaging.gateway_tasks import check_gateway_credits

        credits = check_gateway_credits()
        self.message_user(
            request, "No balance to check" if credits is None else f"Credits: {credits}"
        )


def delivery_report(message: Message) -> list[tuple[str, int, list[tuple[str, int]]]]:
    """(status, count, [(reason, count), ...]) for each status the message's parts are in."""
    rows = (
        Delivery.objects.filter(message=message)
        .values("status", "reason")
        .annotate(n=Count("id"))
        .order_by("status", "-n")
    )
    report: dict[str, tuple[int, list]] = {}
    for row in rows:
        total, reasons = report.get(row["status"], (0, []))
        if row["reason"]:
            reasons.append((row["reason"], row["n"]))
        report[row["status"]] = (total + row["n"], reasons)
    order = [status for status, _ in Delivery.Status.choices]
    return [(status, *report[status]) for status in order if status in report]


_page = threading.local()  # the changelist page being drawn by this thread


def progress_text(progress: operator.Progress) -> str:
    counts = " \u00b7 ".join(
        f"{status} {progress.counts[status]}" for status in operator.SHOWN_STATUSES
    )
    if progress.done:
        return f"{counts} (done)"
    if not progress.planned:
        return f"{counts} (planning) \u00b7 {progress.per_second:.1f} parts/s"
    return f"{counts} \u00b7 {progress.per_second:.1f} parts/s"


def live_progress(message_id: int, progress: operator.Progress, url: str):
    """A count the page's script refreshes every 2 seconds until the fan-out is done."""
    return format_html(
        '<span class="gf-progress" data-message="{}" data-url="{}" data-done="{}">{}</span>',
        message_id,
        url,
        "1" if progress.done else "",
        progress_text(progress),
    )


def csv_response(filename: str, header: list[str], rows) -> StreamingHttpResponse:
    response = StreamingHttpResponse(operator.csv_rows(header, rows), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def csv_filename(what: str) -> str:
    return f"groupflier-{what}-{timezone.now():%Y%m%d-%H%M%S}.csv"


class DeliveryActions:
    """The operator's acts on parts (messaging.operator), behind a confirmation page.

    Subclasses say which parts the selected rows stand for (``selected_parts``).
    """

    def selected_parts(self, queryset, status: str) -> list[int]:
        raise NotImplementedError

    @admin.action(
        description="Queue the failed parts of the selection again", permissions=["change"]
    )
    def requeue_failed_parts(self, request, queryset):
        ids = self.selected_parts(queryset, Delivery.Status.FAILED)
        if request.POST.get("confirm") != "requeue":
            return self._confirm(request, queryset, ids, "requeue_failed_parts", unknown=False)
        moved = operator.requeue_failed(ids)
        self.message_user(request, f"{len(moved)} failed part(s) queued again.")
        return None

    @admin.action(
        description="Resolve the unknown parts of the selection\u2026", permissions=["change"]
    )
    def resolve_unknown_parts(self, request, queryset):
        ids = self.selected_parts(queryset, Delivery.Status.UNKNOWN)
        choice = request.POST.get("confirm")
        if choice == "resend":
            moved = operator.resend_unknown(ids)
            self.message_user(request, f"{len(moved)} unknown part(s) queued to be sent again.")
        elif choice == "close":
            moved = operator.close_unknown(ids, by=request.user.get_username())
            self.message_user(
                request, f"{len(moved)} unknown part(s) closed as failed, not resent."
            )
        else:
            return self._confirm(request, queryset, ids, "resolve_unknown_parts", unknown=True)
        return None

    def _confirm(self, request, queryset, ids, action, *, unknown):
        if not ids:
            wanted = "unknown" if unknown else "failed"
            self.message_user(request, f"The selection has no {wanted} part.", messages.WARNING)
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Resolve parts of unknown fate" if unknown else "Queue failed parts again",
            "action": action,
            "unknown": unknown,
            "count": len(ids),
            "numbers": Delivery.objects.filter(pk__in=ids[:20]).values_list("to_number", flat=True),
            "selected": queryset.values_list("pk", flat=True),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/messaging/confirm_parts.html", context)


@admin.register(Message)
class MessageAdmin(DeliveryActions, admin.ModelAdmin):
    list_display = ("group", "seq", "sender_name", "text", "source", "created_at", "summary")
    list_filter = ("source", ("created_at", admin.DateFieldListFilter))
    search_fields = ("text", "sender_name", "sender_number", "group__name")
    date_hierarchy = "created_at"
    raw_id_fields = ("group", "sender")
    readonly_fields = (
        "group",
        "seq",
        "sender",
        "sender_name",
        "sender_number",
        "text",
        "cc",
        "owner_only",
        "source",
        "created_at",
        "fanned_out_at",
        "progress",
        "report",
    )
    actions = [
        "requeue_failed_parts",
        "resolve_unknown_parts",
        "export_messages_csv",
        "export_delivery_report_csv",
    ]

    def has_add_permission(self, request):
        return False  # messages enter through the API, SMS or the scheduler

    # An operator may delete a message (abuse, a request to forget it): the members' kept
    # counts (/message/count) are counted again for the groups it was in.
    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        actions.recount(obj.group)

    def delete_queryset(self, request, queryset):
        groups = list(Group.objects.filter(pk__in=queryset.values("group_id")))
        super().delete_queryset(request, queryset)
        for group in groups:
            actions.recount(group)

    def get_urls(self):
        progress = self.admin_site.admin_view(self.progress_view)
        export = self.admin_site.admin_view(self.export_view)
        return [
            path("progress/", progress, name="messaging_message_progress"),
            path("export/", export, name="messaging_message_export"),
            *super().get_urls(),
        ]

    def export_view(self, request):
        """CSV of one group's messages (``?group=ID``), linked from the group's page."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            group_id = int(request.GET.get("group", ""))
        except ValueError:
            return HttpResponseBadRequest("group=ID, a number")
        messages_ = Message.objects.filter(group_id=group_id)
        rows = operator.message_rows(messages_)
        return csv_response(
            csv_filename(f"group-{group_id}-messages"), operator.MESSAGE_COLUMNS, rows
        )

    def progress_view(self, request):
        """JSON for the page's script: ``{"<id>": {"text": ..., "done": ...}}``."""
        if not self.has_view_permission(request):
            return JsonResponse({}, status=403)
        try:
            ids = [int(i) for i in request.GET.get("ids", "").split(",") if i][:200]
        except ValueError:
            return JsonResponse({"error": "ids are numbers"}, status=400)
        return JsonResponse(
            {
                str(pk): {"text": progress_text(p), **p.as_dict()}
                for pk, p in operator.progress(ids).items()
            }
        )

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        # One progress query for the whole page, not one per row. The admin instance is
        # shared by every request: the page's counts are kept per thread.
        _page.progress = operator.progress(m.pk for m in changelist.result_list)
        return changelist

    def _progress_of(self, message):
        known = getattr(_page, "progress", {})
        if message.pk in known:
            return known[message.pk]
        return operator.progress([message.pk])[message.pk]

    @admin.display(description="deliveries (live)")
    def summary(self, message):
        url = reverse("admin:messaging_message_progress")
        return live_progress(message.pk, self._progress_of(message), url)

    @admin.display(description="progress (live)")
    def progress(self, message):
        url = reverse("admin:messaging_message_progress")
        return live_progress(message.pk, operator.progress([message.pk])[message.pk], url)

    @admin.display(description="delivery report")
    def report(self, message):
        url = reverse("admin:messaging_delivery_changelist") + f"?message__id__exact={message.pk}"
        lines = format_html_join(
            "",
            "<li><a href='{}&status__exact={}'>{}: {}</a>{}</li>",
            (
                (url, status, status, count, _reasons(reasons))
                for status, count, reasons in delivery_report(message)
            ),
        )
        return format_html("<ul>{}</ul><a href='{}'>All deliveries</a>", lines, url)

    def selected_parts(self, queryset, status):
        return operator.parts_of(queryset.values_list("pk", flat=True), status)

    @admin.action(description="Export the selected messages as CSV")
    def export_messages_csv(self, request, queryset):
        rows = operator.message_rows(queryset)
        return csv_response(csv_filename("messages"), operator.MESSAGE_COLUMNS, rows)

    @admin.action(description="Export the delivery report of the selected messages as CSV")
    def export_delivery_report_csv(self, request, queryset):
        deliveries = Delivery.objects.filter(message__in=queryset)
        rows = operator.delivery_rows(deliveries)
        return csv_response(csv_filename("deliveries"), operator.DELIVERY_COLUMNS, rows)


def _reasons(reasons):
    if not reasons:
        return ""
    return format_html(" ({})", format_html_join("; ", "{} \u00d7{}", ((r, n) for r, n in reasons)))


@admin.register(Delivery)
class DeliveryAdmin(DeliveryActions, admin.ModelAdmin):
    list_display = (
        "message",
        "to_number",
        "from_number",
        "part",
        "parts",
        "status",
        "reason",
        "attempts",
        "updated_at",
    )
    list_filter = ("status", ("updated_at", admin.DateFieldListFilter))
    search_fields = ("to_number", "from_number", "reason", "provider_ref", "message__group__name")
    raw_id_fields = ("message", "recipient")
    readonly_fields = (
        "message",
        "recipient",
        "part",
        "parts",
        "to_number",
        "from_number",
        "text",
        "status",
        "reason",
        "attempts",
        "provider_ref",
        "handoff",
        "created_at",
        "updated_at",
    )
    actions = ["requeue_failed_parts", "resolve_unknown_parts", "export_csv"]

    def has_add_permission(self, request):
        return False

    def selected_parts(self, queryset, status):
        return list(queryset.filter(status=status).values_list("pk", flat=True))

    @admin.action(description="Export the selected delivery reports as CSV")
    def export_csv(self, request, queryset):
        rows = operator.delivery_rows(queryset)
        return csv_response(csv_filename("deliveries"), operator.DELIVERY_COLUMNS, rows)


@admin.register(ScheduledMessage)
class ScheduledMessageAdmin(admin.ModelAdmin):
    list_display = ("group", "text", "when", "status", "reason", "message")
    list_filter = ("status", ("when", admin.DateFieldListFilter))
    search_fields = ("text", "group__name", "author__member__number", "author__name")
    raw_id_fields = ("group", "author", "message")
    # Owners schedule and delete through the API; the status moves only by its transitions.
    readonly_fields = ("group", "author", "status", "reason", "message", "created_at")

    def has_add_permission(self, request):
        return False


@admin.register(InboundSms)
class InboundSmsAdmin(admin.ModelAdmin):
    list_display = ("sender", "to_number", "text", "gateway", "group", "outcome", "received_at")
    list_filter = ("gateway", ("received_at", admin.DateFieldListFilter))
    search_fields = ("sender", "to_number", "text", "group__name")
    date_hierarchy = "received_at"
    readonly_fields = ("sender", "to_number", "text", "gateway", "group", "outcome", "received_at")

    def has_add_permission(self, request):
        return False  # texts arrive through a gateway's webhook (or manage.py inbound)
