"""Pieces the apps' admin modules share."""

from django.contrib import admin


class ReadOnlyTabularInline(admin.TabularInline):
    """Rows shown in their parent's page, changed only through the rules that own them: no
    add, change or delete here, a link to each row's own page instead."""

    extra = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
