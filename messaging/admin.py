from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from messaging.models import (
    Delivery,
    GatewayState,
    InboundSms,
    Message,
    OutboundSms,
    OutboxMessage,
    ScheduledMessage,
)


@admin.register(OutboundSms)
class OutboundSmsAdmin(admin.ModelAdmin):
    list_display = ("to", "kind", "status", "attempts", "error", "created_at")
    list_filter = ("kind", "status")
    search_fields = ("to",)
    readonly_fields = (
        "to",
        "from_number",
        "text",
        "kind",
        "status",
        "error",
        "attempts",
        "created_at",
        "updated_at",
    )


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("to", "from_number", "text", "created_at")
    search_fields = ("to", "text")
    readonly_fields = ("to", "from_number", "text", "created_at")


@admin.register(GatewayState)
class GatewayStateAdmin(admin.ModelAdmin):
    """Whether each SMS gateway sends, why not, and its last known credit balance."""

    list_display = ("gateway", "paused", "reason", "credits", "credits_checked_at", "updated_at")
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


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("group", "seq", "sender_name", "text", "source", "created_at", "summary")
    list_filter = ("source",)
    search_fields = ("text", "sender_name", "sender_number", "group__name")
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
        "report",
    )

    def has_add_permission(self, request):
        return False  # messages enter through the API, SMS or the scheduler

    @admin.display(description="deliveries")
    def summary(self, message):
        return ", ".join(f"{status} {count}" for status, count, _ in delivery_report(message))

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


def _reasons(reasons):
    if not reasons:
        return ""
    return format_html(" ({})", format_html_join("; ", "{} \u00d7{}", ((r, n) for r, n in reasons)))


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "message",
        "to_number",
        "part",
        "parts",
        "status",
        "reason",
        "attempts",
        "updated_at",
    )
    list_filter = ("status",)
    search_fields = ("to_number", "reason", "provider_ref")
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

    def has_add_permission(self, request):
        return False


@admin.register(ScheduledMessage)
class ScheduledMessageAdmin(admin.ModelAdmin):
    list_display = ("group", "text", "when", "status", "reason", "message")
    list_filter = ("status",)
    search_fields = ("text", "group__name")
    raw_id_fields = ("group", "author", "message")


@admin.register(InboundSms)
class InboundSmsAdmin(admin.ModelAdmin):
    list_display = ("sender", "to_number", "text", "gateway", "group", "outcome", "received_at")
    list_filter = ("gateway",)
    search_fields = ("sender", "text")
    readonly_fields = ("sender", "to_number", "text", "gateway", "group", "outcome", "received_at")
