from django.contrib import admin

from groups.models import Group, Membership, PoolNumber


class GroupMembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("name", "member", "address", "bye", "sms", "broadcast", "last_exchanged_at")
    raw_id_fields = ("member", "address")
    readonly_fields = ("last_exchanged_at",)


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "owner",
        "status",
        "suspended",
        "is_public",
        "invite_code",
        "created_at",
    )
    list_filter = ("status", "suspended", "is_public", "reply_to_owner")
    search_fields = ("name", "invite_code", "owner__number", "memberships__member__number")
    raw_id_fields = ("owner",)
    inlines = [GroupMembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("name", "member", "group", "address", "bye", "sms", "broadcast")
    list_filter = ("bye", "sms", "broadcast")
    search_fields = ("name", "member__number", "group__name", "address__number")
    raw_id_fields = ("group", "member", "address")


@admin.register(PoolNumber)
class PoolNumberAdmin(admin.ModelAdmin):
    list_display = ("number", "active", "created_at")
    list_filter = ("active",)
    search_fields = ("number",)
