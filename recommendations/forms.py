"""Forms of the recommendations editor. They never save: writes go through ``recommendations.rules``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from stores.models import Store

from .models import RuleChannel, RuleKind

SCOPE_CHOICES = [
    ("all", "All channels"),
    ("online", "Online"),
    ("offline", "In store (every store)"),
    ("stores", "Chosen stores"),
]


class ScopeForm(forms.Form):
    """Which scope the editor shows and edits: a channel, or a set of stores. Read from the query string."""

    scope = forms.ChoiceField(choices=SCOPE_CHOICES, required=False, initial="all")
    stores = forms.ModelMultipleChoiceField(
        queryset=Store.objects.none(), required=False, to_field_name="code", widget=forms.SelectMultiple
    )

    def __init__(self, *args: Any, stores, restricted: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["stores"].queryset = stores
        self.restricted = restricted
        if restricted:  # store managers only have their stores
            self.fields["scope"].choices = [("stores", "My stores")]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        scope = cleaned.get("scope") or ("stores" if self.restricted else "all")
        stores = list(cleaned.get("stores") or [])
        if scope == "stores" and not stores:
            if self.restricted:
                stores = list(self.fields["stores"].queryset[:1])
            if not stores:
                self.add_error("stores", "Choose at least one store.")
        if scope != "stores":
            stores = []
        cleaned["scope"], cleaned["stores"] = scope, stores
        return cleaned

    def rule_fields(self) -> dict[str, Any]:
        """``channel`` and ``stores`` for ``rule_create``."""
        scope, stores = self.cleaned_data["scope"], self.cleaned_data["stores"]
        channel = RuleChannel.ALL if scope in ("all", "stores") else scope
        return {"channel": channel, "stores": stores}


class RuleForm(forms.Form):
    """Add a pin, an exclusion or a block. The product and the scope come from the editor's state."""

    kind = forms.ChoiceField(choices=RuleKind.choices, initial=RuleKind.PIN)
    target = forms.CharField(
        label="Product to pin, exclude or block (SKU)",
        max_length=64,
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
    )
    position = forms.IntegerField(
        min_value=1, required=False, help_text="Pins: place from 1. Empty: after the last pin."
    )
    starts_on = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}), help_text="Campaign start."
    )
    ends_on = forms.DateField(
        required=False, label="Until", widget=forms.DateInput(attrs={"type": "date"}), help_text="Last day."
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        starts_on, ends_on = cleaned.get("starts_on"), cleaned.get("ends_on")
        if starts_on and ends_on and ends_on < starts_on:
            self.add_error("ends_on", ValidationError(f"The window ends ({ends_on}) before it starts ({starts_on})."))
        if cleaned.get("kind") != RuleKind.PIN:
            cleaned["position"] = None
        return cleaned

    def rule_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "target": data["target"].strip(),
            "position": data.get("position"),
            "starts_on": data.get("starts_on"),
            "ends_on": data.get("ends_on"),
        }
