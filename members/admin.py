from django.contrib import admin

from groups.models import Membership
from members.models import ApiSession, LoginGuard, Member


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "member"
    extra = 0
    fields = ("group", "name", "address", "bye", "sms", "broadcast")
    raw_id_fields = ("group", "address")


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("number", "blocked", "created_at")
    list_filter = ("blocked",)
    search_fields = ("number", "memberships__name")
    inlines = [MembershipInline]


@admin.register(ApiSession)
class ApiSessionAdmin(admin.ModelAdmin):
    list_display = ("member", "source", "created_at", "last_used_at")
    search_fields = ("member__number",)
    # The hash is useless to a person and the sid itself is never stored.
    exclude = ("key_hash",)
    readonly_fields = ("member", "source", "created_at", "last_used_at")


@admin.register(LoginGuard)
class LoginGuardAdmin(admin.ModelAdmin):
    list_display = ("number", "failures", "window_started_at", "locked_until")
    search_fields = ("number",)
