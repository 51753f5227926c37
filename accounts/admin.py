from django.contrib import admin

from accounts.models import Account, LedgerEntry


class LedgerInline(admin.TabularInline):
    model = LedgerEntry
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "amount", "balance_after", "note")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False  # entries are written by accounts.ledger, never by hand


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("member", "type", "balance", "email", "created_at")
    list_filter = ("type",)
    search_fields = ("member__number", "email")
    # The balance moves only through ledger entries.
    readonly_fields = ("member", "balance", "created_at")
    exclude = ("password",)
    inlines = [LedgerInline]
