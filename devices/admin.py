from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from devices.models import Device, PushAttempt, PushOutboxEntry
from members.models import Member


class PushAttemptInline(admin.TabularInline):
    model = PushAttempt
    fields = ("created_at", "group_number", "message_id", "with_content", "status", "error")
    readonly_fields = fields
    ordering = ("-id",)
    extra = 0
    max_num = 0  # history: nothing to add from here
    can_delete = False
    show_change_link = True


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    """Devices per member: sorted and searchable by number, each with its last push result."""

    list_display = (
        "number",
        "member_link",
        "type",
        "verified",
        "last_push_status",
        "last_push_at",
        "last_push_error",
        "registered_at",
    )
    list_filter = (
        "type",
        "verified",
        "last_push_status",
        ("registered_at", admin.DateFieldListFilter),
    )
    search_fields = ("number", "token")
    readonly_fields = ("created_at", "registered_at", "last_push_at")
    inlines = [PushAttemptInline]

    @admin.display(description="member")
    def member_link(self, device):
        # Devices are kept by number; the number may not have joined a group yet.
        member = Member.objects.filter(number=str(device.number)).first()
        if member is None:
            return "not a member yet"
        url = reverse("admin:members_member_change", args=[member.pk])
        return format_html('<a href="{}">{}</a>', url, member)


@admin.register(PushAttempt)
class PushAttemptAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "number",
        "group_number",
        "message_id",
        "service",
        "with_content",
        "status",
        "attempts",
        "error",
    )
    list_filter = ("status", "service", "with_content", ("created_at", admin.DateFieldListFilter))
    search_fields = ("number", "group_number", "token")
    readonly_fields = [field.name for field in PushAttempt._meta.fields]

    def has_add_permission(self, request):
        return False  # made by each group message's fan-out


@admin.register(PushOutboxEntry)
class PushOutboxEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "service", "token", "title", "body")
    list_filter = ("service", ("created_at", admin.DateFieldListFilter))
    search_fields = ("token", "body")
    readonly_fields = ("created_at", "service", "token", "title", "body", "data")

    def has_add_permission(self, request):
        return False  # what the log backend "pushed"
