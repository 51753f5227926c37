from django.contrib import admin

from messaging.models import OutboundSms, OutboxMessage


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
