from django.contrib import admin

from members.models import ApiSession, LoginGuard, Member


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("number", "blocked", "created_at")
    list_filter = ("blocked", ("created_at", admin.DateFieldListFilter))
    search_fields = ("number", "memberships__name")
    # A number is blocked by STOP and unblocked by START (messaging.inbound), which the
    # carrier's rules require; an admin edit would go around them.
    readonly_fields = ("number", "blocked", "blocked_at", "created_at")
    inlines = []  # groups.admin adds the member's memberships (groups is above members)

    def has_add_permission(self, request):
        return False  # members come with the groups they are added to


@admin.register(ApiSession)
class ApiSessionAdmin(admin.ModelAdmin):
    list_display = ("member", "source", "created_at", "last_used_at")
    search_fields = ("member__number",)
    # The hash is useless to a person and the sid itself is never stored.
    exclude = ("key_hash",)
    readonly_fields = ("member", "source", "created_at", "last_used_at")

    def has_add_permission(self, request):
        return False  # sessions are made by a PIN login


@admin.register(LoginGuard)
class LoginGuardAdmin(admin.ModelAdmin):
    list_display = ("number", "failures", "window_started_at", "locked_until")
    search_fields = ("number",)
