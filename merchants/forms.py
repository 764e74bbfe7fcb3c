"""Forms of the merchant portal: brand profile, members and invitations, API keys, the audit filter."""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from functools import cache

from babel.numbers import get_currency_name
from django import forms
from django.contrib.auth import get_user_model, password_validation

from accounts.forms import PASSWORD_HELP
from stores.models import Store

from .models import CURRENCY_CODES, TIMEZONE_NAMES, ApiScope, AuditAction, Role

User = get_user_model()

# Regions people pick a zone from; legacy aliases (US/Eastern, Etc/GMT+5, ...) are left out of the menu
# but stay valid if a merchant already has one (see timezone_choices).
_TIMEZONE_REGIONS = ("Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")


@cache
def _currency_choices() -> tuple[tuple[str, str], ...]:
    return tuple((code, f"{code} — {get_currency_name(code, locale='en')}") for code in sorted(CURRENCY_CODES))


@cache
def _timezone_groups() -> tuple:
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name in sorted(zoneinfo.available_timezones()):
        region = name.split("/", 1)[0]
        if region in _TIMEZONE_REGIONS and "/" in name:
            groups[region].append((name, name.replace("_", " ")))
    return (("UTC", "UTC"), *((region, tuple(groups[region])) for region in _TIMEZONE_REGIONS))


def currency_choices(current: str | None = None) -> list[tuple[str, str]]:
    choices = list(_currency_choices())
    if current and current not in CURRENCY_CODES:
        choices.insert(0, (current, current))
    return choices


def timezone_choices(current: str | None = None) -> list:
    choices = list(_timezone_groups())
    listed = {"UTC"} | {name for _, zones in choices[1:] for name, _ in zones}
    if current and current not in listed and current in TIMEZONE_NAMES:
        choices.insert(0, (current, current))
    return choices


class MerchantProfileForm(forms.Form):
    """Brand profile: used by onboarding step 1 and the settings page."""

    name = forms.CharField(label="Brand name", max_length=150)
    currency = forms.ChoiceField(
        label="Currency",
        help_text="Every amount (sales, prices) is in this currency. Orders in another currency are refused.",
    )
    timezone = forms.ChoiceField(
        label="Time zone",
        help_text="Online sales are counted in this time zone's days. Each store also has its own time zone.",
    )

    def __init__(self, *args, merchant=None, read_only: bool = False, **kwargs):
        if merchant is not None:
            kwargs.setdefault(
                "initial", {"name": merchant.name, "currency": merchant.currency, "timezone": merchant.timezone}
            )
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = currency_choices(merchant.currency if merchant else None)
        self.fields["timezone"].choices = timezone_choices(merchant.timezone if merchant else None)
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Enter the brand name.", code="required")
        return name


class MerchantCreateForm(forms.Form):
    name = forms.CharField(
        label="Brand name",
        max_length=150,
        help_text="You will set its currency, time zone and stores next.",
        widget=forms.TextInput(attrs={"autofocus": True}),
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Enter the brand name.", code="required")
        return name


def role_choices(*, actor_is_owner: bool) -> list[tuple[str, str]]:
    """Admins manage members but never owners: they are not offered the owner role."""
    return [(value, label) for value, label in Role.choices if actor_is_owner or value != Role.OWNER]


ROLE_HELP = (
    "Owner: everything, including the audit log and other owners. Admin: settings, members, API keys, stores "
    "and catalog. Analyst: reads everything, changes nothing. Store manager: reads only the stores below."
)


class _RoleAndStoresForm(forms.Form):
    role = forms.ChoiceField(label="Role", help_text=ROLE_HELP)
    stores = forms.ModelMultipleChoiceField(
        label="Stores this store manager sees",
        queryset=Store.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only used for the store manager role.",
    )

    def __init__(self, *args, stores_queryset, actor_is_owner: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices(actor_is_owner=actor_is_owner)
        self.fields["stores"].queryset = stores_queryset

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("role") != Role.STORE_MANAGER:
            cleaned["stores"] = []
        elif "stores" in cleaned and not cleaned["stores"] and self.fields["stores"].queryset.exists():
            self.add_error("stores", "Choose at least one store: a store manager sees only the stores chosen here.")
        return cleaned


class InvitationForm(_RoleAndStoresForm):
    email = forms.EmailField(label="E-mail address", widget=forms.EmailInput(attrs={"autocomplete": "off"}))

    field_order = ["email", "role", "stores"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].initial = Role.ANALYST


class MemberUpdateForm(_RoleAndStoresForm):
    pass


class InvitationSignUpForm(forms.Form):
    """An invitee without an account chooses a name and a password; the e-mail is the invitation's."""

    full_name = forms.CharField(
        label="Your name", max_length=150, required=False, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    password = forms.CharField(
        label="Choose a password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=PASSWORD_HELP,
    )

    def __init__(self, *args, email: str, **kwargs):
        self.email = email
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            candidate = User(email=self.email, full_name=cleaned.get("full_name", ""))
            try:
                password_validation.validate_password(password, user=candidate)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="Who or what uses it, e.g. “Shopify sync” or “POS vendor”.",
    )
    scopes = forms.MultipleChoiceField(
        label="What the key may do",
        choices=ApiScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiScope.STORES_READ, ApiScope.CATALOG_READ],
        error_messages={"required": "Choose at least one scope."},
    )


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(label="Event", required=False, choices=[("", "All events"), *AuditAction.choices])
