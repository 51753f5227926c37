from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts import billing
from accounts.models import Account, Charge, LedgerEntry
from accounts.payments.base import PaymentError


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class LedgerInline(ReadOnlyInline):
    # Entries are written by accounts.ledger, never by hand: an adjustment is its own form.
    model = LedgerEntry
    fields = ("created_at", "kind", "amount", "balance_after", "note", "reference")
    readonly_fields = fields


class ChargeInline(ReadOnlyInline):
    model = Charge
    fields = ("created_at", "amount", "status", "reason", "card_description", "payment_reference")
    readonly_fields = fields


class RecordAdmin(admin.ModelAdmin):
    """Records of what happened to money: shown, never written or removed by hand."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AdjustmentForm(forms.Form):
    amount = forms.IntegerField(
        help_text="Pennies to add; negative to take away. Written as an adjustment entry."
    )
    note = forms.CharField(max_length=150, help_text="Why, for whoever reads the ledger next")

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("An adjustment of nothing changes nothing.")
        if abs(amount) > 10_000_000:
            raise forms.ValidationError("More than $100,000 at once is surely a typing slip.")
        return amount


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = (
        "member",
        "type",
        "balance",
        "is_suspended",
        "card_description",
        "email",
        "created_at",
    )
    list_filter = ("type", ("created_at", admin.DateFieldListFilter))
    search_fields = ("member__number", "email")
    # The balance moves only through ledger entries; of a card only these were ever kept.
    readonly_fields = (
        "member",
        "balance",
        "adjust_balance",
        "card_description",
        "card_exp_month",
        "card_exp_year",
        "card_token",
        "processor_customer",
        "payment_backend",
        "created_at",
    )
    fields = ("member", "type", "balance", "adjust_balance", "email", "zip", *readonly_fields[3:])
    inlines = [LedgerInline, ChargeInline]
    actions = ["make_free", "make_paid"]

    def has_add_permission(self, request):
        return False  # accounts open with a member's first group

    def has_delete_permission(self, request, obj=None):
        return False  # the ledger is history

    @admin.display(boolean=True, description="suspended")
    def is_suspended(self, account):
        return account.suspended

    @admin.display(description="adjust")
    def adjust_balance(self, account):
        if account.pk is None:
            return "-"
        url = reverse("admin:accounts_account_adjust", args=[account.pk])
        return format_html('<a class="button" href="{}">Adjust balance</a>', url)

    @admin.action(description="Make the selected accounts free (never charged or suspended)")
    def make_free(self, request, queryset):
        self._set_type(request, queryset, Account.Type.FREE)

    @admin.action(description="Make the selected accounts paid")
    def make_paid(self, request, queryset):
        self._set_type(request, queryset, Account.Type.PAID)

    def _set_type(self, request, queryset, account_type):
        # Only the type column: an UPDATE leaves the balance to the ledger.
        count = queryset.update(type=account_type)
        for account in queryset:
            self.log_change(request, account, f"Type set to {account.get_type_display()}")
        self.message_user(request, f"{count} account(s) are now {account_type.label}.")

    def get_urls(self):
        adjust = self.admin_site.admin_view(self.adjust_view)
        return [
            path("<int:account_id>/adjust/", adjust, name="accounts_account_adjust"),
            *super().get_urls(),
        ]

    def adjust_view(self, request, account_id):
        account = get_object_or_404(Account, pk=account_id)
        if not self.has_change_permission(request, account):
            raise PermissionDenied
        form = AdjustmentForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            entry = billing.adjust_balance(
                account,
                form.cleaned_data["amount"],
                form.cleaned_data["note"],
                by=request.user.get_username(),
            )
            self.log_change(request, account, f"Balance adjusted by {entry.amount:+d}")
            self.message_user(
                request, f"Adjusted by {entry.amount:+d}; the balance is now {entry.balance_after}."
            )
            return redirect("admin:accounts_account_change", account.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": account,
            "title": f"Adjust the balance of {account}",
            "form": form,
        }
        return TemplateResponse(request, "admin/accounts/account/adjust_balance.html", context)


@admin.register(Charge)
class ChargeAdmin(RecordAdmin):
    list_display = ("created_at", "account", "amount", "status", "reason", "card_description")
    list_filter = ("status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("account__member__number", "payment_reference")
    actions = ["refund"]

    @admin.action(description="Refund the selected charges in full", permissions=["change"])
    def refund(self, request, queryset):
        for charge in queryset.filter(status=Charge.Status.SUCCEEDED):
            try:
                billing.refund_charge(charge)
            except PaymentError as exc:
                self.message_user(
                    request, f"{charge} was not refunded: {exc.reason}", messages.ERROR
                )
                continue
            self.log_change(request, charge, "Refunded")
            self.message_user(request, f"Refunded {charge.amount} to {charge.card_description}.")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(RecordAdmin):
    list_display = ("created_at", "account", "kind", "amount", "balance_after", "note")
    list_filter = ("kind", ("created_at", admin.DateFieldListFilter))
    search_fields = ("account__member__number", "reference", "note")
