from django.contrib import admin, messages
from django.db.models import Count

from groups import actions
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
        "member_count",
        "created_at",
    )
    list_filter = ("status", "suspended", "is_public", "reply_to_owner")
    # "number" finds a group by its members' phone numbers and by the pool numbers they text.
    search_fields = (
        "name",
        "invite_code",
        "owner__number",
        "memberships__member__number",
        "memberships__address__number",
    )
    raw_id_fields = ("owner",)
    readonly_fields = ("created_at", "activated_at", "deleted_at")
    inlines = [GroupMembershipInline]
    actions = ["suspend", "unsuspend", "activate", "delete_keeping_history"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(members=Count("memberships"))

    @admin.display(description="members", ordering="members")
    def member_count(self, group):
        return group.members

    @admin.action(description="Suspend the selected groups (no more sending)")
    def suspend(self, request, queryset):
        changed = queryset.update(suspended=True)
        self.message_user(request, f"{changed} group(s) suspended.")

    @admin.action(description="Lift the suspension of the selected groups")
    def unsuspend(self, request, queryset):
        changed = queryset.update(suspended=False)
        self.message_user(request, f"{changed} group(s) no longer suspended.")

    @admin.action(description="Activate the selected staged groups (texts the welcomes)")
    def activate(self, request, queryset):
        # The same activation as a creator's PIN, welcomes included.
        activated = sum(actions.activate_group(group) for group in queryset.order_by("pk"))
        skipped = queryset.count() - activated
        self.message_user(request, f"{activated} group(s) activated.")
        if skipped:
            self.message_user(
                request,
                f"{skipped} group(s) were not pending and were left alone.",
                messages.WARNING,
            )

    @admin.action(description="Delete the selected groups, keeping their history")
    def delete_keeping_history(self, request, queryset):
        # Unlike the row delete, this frees the group numbers and invite codes but keeps the
        # group and its members for the record, as /group/delete does.
        groups = list(queryset.exclude(status=Group.Status.DELETED).order_by("pk"))
        for group in groups:
            actions.retire(group)
        self.message_user(request, f"{len(groups)} group(s) deleted.")


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
