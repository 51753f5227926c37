from django.contrib import admin, messages
from django.db.models import Count, Max, OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from groupflier.admin_tools import ReadOnlyTabularInline
from groups import actions
from groups.models import Group, Membership, PoolNumber
from members.admin import MemberAdmin


class GroupMembershipInline(ReadOnlyTabularInline):
    """Who is in the group, as the roster rules left it: members join, leave and change through
    the API and star commands (groups.roster), never by editing these rows."""

    model = Membership
    fields = ("name", "member", "address", "bye", "sms", "broadcast", "last_exchanged_at")


class MembershipInline(ReadOnlyTabularInline):
    """A member's groups on their page. Shown, not edited: memberships change through the
    roster's rules (the API, star commands)."""

    model = Membership
    fk_name = "member"
    fields = ("group", "name", "address", "bye", "sms", "broadcast")


MemberAdmin.inlines = [*MemberAdmin.inlines, MembershipInline]


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "owner",
        "numbers",
        "member_count",
        "last_message",
        "status",
        "suspended",
        "is_public",
        "invite_code",
        "created_at",
    )
    list_filter = (
        "status",
        "suspended",
        "is_public",
        "reply_to_owner",
        ("created_at", admin.DateFieldListFilter),
    )
    date_hierarchy = "created_at"
    list_per_page = 50
    # "number" finds a group by its members' phone numbers and by the pool numbers they text.
    search_fields = (
        "name",
        "invite_code",
        "owner__number",
        "memberships__member__number",
        "memberships__address__number",
    )
    # Status, suspension and the owner move only through the actions below (the rules'
    # own functions); the owner through the API. The settings an owner sets stay editable.
    readonly_fields = (
        "owner",
        "status",
        "suspended",
        "source",
        "created_at",
        "activated_at",
        "deleted_at",
        "message_links",
    )
    inlines = [GroupMembershipInline]
    actions = [
        "suspend",
        "unsuspend",
        "activate",
        "delete_keeping_history",
    ]

    def has_add_permission(self, request):
        return False  # groups are created through the API, with their rules

    def has_delete_permission(self, request, obj=None):
        # The row delete would erase messages and their delivery record: "Delete ... keeping
        # their history" is the delete.
        return False

    def get_queryset(self, request):
        # Subqueries, not joins: a count of members joined to messages would multiply both.
        members = (
            Membership.objects.filter(group=OuterRef("pk"))
            .order_by()
            .values("group")
            .annotate(n=Count("pk"))
            .values("n")
        )
        # By the reverse relation: groups does not import messaging, which depends on it.
        last = (
            Group.objects.filter(pk=OuterRef("pk"))
            .order_by()
            .annotate(t=Max("messages__created_at"))
            .values("t")
        )
        return (
            super()
            .get_queryset(request)
            .select_related("owner")
            .annotate(members=Subquery(members), last_message_at=Subquery(last))
        )

    @admin.display(description="members", ordering="members")
    def member_count(self, group):
        return group.members or 0

    @admin.display(description="last message", ordering="last_message_at")
    def last_message(self, group):
        if group.last_message_at is None:
            return "-"
        return format_html(
            '<span title="{}">{} ago</span>',
            group.last_message_at.isoformat(),
            _ago(timezone.now() - group.last_message_at),
        )

    @admin.display(description="numbers")
    def numbers(self, group):
        """The pool numbers its members text."""
        found = sorted(
            {
                str(n)
                for n in group.memberships.exclude(address=None).values_list(
                    "address__number", flat=True
                )
            }
        )
        return ", ".join(found) or "-"

    @admin.display(description="messages")
    def message_links(self, group):
        if group.pk is None:
            return "-"
        listing = reverse("admin:messaging_message_changelist") + f"?group__id__exact={group.pk}"
        export = reverse("admin:messaging_message_export") + f"?group={group.pk}"
        return format_html(
            '<a href="{}">Messages and their delivery</a> \u00b7 <a href="{}">Export as CSV</a>',
            listing,
            export,
        )

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


def _ago(delta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{max(seconds, 0)} s"


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Memberships are shown, not edited: the roster's rules (names unique in a group, one
    group number per member, notices) live in groups.roster and the API."""

    list_display = ("name", "member", "group", "address", "bye", "sms", "broadcast", "created_at")
    list_filter = ("bye", "sms", "broadcast", ("created_at", admin.DateFieldListFilter))
    search_fields = ("name", "member__number", "group__name", "address__number")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Membership._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PoolNumber)
class PoolNumberAdmin(admin.ModelAdmin):
    list_display = ("number", "active", "created_at")
    list_filter = ("active",)
    search_fields = ("number",)
