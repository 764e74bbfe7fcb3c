"""Store forms: the create/edit form (opening hours as seven text inputs), closing, and CSV upload."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from merchants.models import TIMEZONE_NAMES, Merchant

from .models import Store
from .services import store_local_today
from .validation import (
    HOURS_TEXT_HELP,
    STORE_CODE_HELP,
    WEEKDAY_LABELS,
    WEEKDAYS,
    format_hours_text,
    normalize_store_code,
    parse_coordinate,
    parse_hours_text,
)

TIMEZONE_CHOICES = [(name, name.replace("_", " ")) for name in sorted(TIMEZONE_NAMES)]


class StoreForm(forms.ModelForm):
    """Create or edit a store. ``merchant`` is required (code uniqueness, default time zone).

    ``service_fields()`` returns the keyword arguments for ``store_create``/``store_update``. The form never
    saves by itself: writes go through the services. Pass a copy of the store as ``instance`` when editing
    (ModelForm validation sets the submitted values on it).
    """

    latitude = forms.CharField(required=False, help_text="Decimal degrees, e.g. 48.8566.")
    longitude = forms.CharField(required=False, help_text="Decimal degrees, e.g. 2.3522.")
    timezone = forms.ChoiceField(choices=TIMEZONE_CHOICES, label="Time zone")

    class Meta:
        model = Store
        fields = [
            "code",
            "name",
            "address_line1",
            "address_line2",
            "city",
            "region",
            "postal_code",
            "country",
            "latitude",
            "longitude",
            "timezone",
            "opened_on",
        ]
        widgets = {"opened_on": forms.DateInput(attrs={"type": "date"})}
        help_texts = {"code": STORE_CODE_HELP}

    def __init__(self, *args: Any, merchant: Merchant, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.merchant = merchant
        hours = self.instance.opening_hours or {}
        for day in WEEKDAYS:
            self.fields[f"hours_{day}"] = forms.CharField(
                label=WEEKDAY_LABELS[day],
                required=False,
                initial=format_hours_text(hours.get(day)),
                widget=forms.TextInput(
                    attrs={"placeholder": "Closed", "autocomplete": "off", "aria-describedby": "hours-help"}
                ),
            )
        if self.instance.pk is None:
            self.fields["timezone"].initial = merchant.timezone
        self.fields["code"].widget.attrs.update({"autocapitalize": "characters", "spellcheck": "false"})

    @property
    def hours_fields(self) -> list[forms.BoundField]:
        return [self[f"hours_{day}"] for day in WEEKDAYS]

    @property
    def hours_help(self) -> str:
        return HOURS_TEXT_HELP

    def clean_code(self) -> str:
        code = normalize_store_code(self.cleaned_data["code"])
        clash = Store.objects.for_merchant(self.merchant).filter(code=code).exclude(pk=self.instance.pk).first()
        if clash is not None:
            raise ValidationError(f"The code {code} is already used by {clash.name}.")
        return code

    def _clean_coordinate(self, kind: str):
        value = self.cleaned_data.get(kind, "").strip()
        return parse_coordinate(value, kind=kind) if value else None

    def clean_latitude(self):
        return self._clean_coordinate("latitude")

    def clean_longitude(self):
        return self._clean_coordinate("longitude")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        hours = {}
        for day in WEEKDAYS:
            try:
                hours[day] = parse_hours_text(self.cleaned_data.get(f"hours_{day}", ""))
            except ValidationError as exc:
                self.add_error(f"hours_{day}", exc)
        cleaned["opening_hours"] = hours
        has_both_fields = "latitude" in cleaned and "longitude" in cleaned
        if has_both_fields and (cleaned["latitude"] is None) != (cleaned["longitude"] is None):
            self.add_error("longitude", "Give both latitude and longitude, or neither.")
        return cleaned

    def service_fields(self) -> dict[str, Any]:
        fields = {name: self.cleaned_data[name] for name in self.Meta.fields}
        fields["opening_hours"] = self.cleaned_data["opening_hours"]
        return fields


class StoreCloseForm(forms.Form):
    closed_on = forms.DateField(
        label="Closed on",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The day the store closed. It stays in reports for the days it traded.",
    )

    def __init__(self, *args: Any, store: Store, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.store = store
        self.fields["closed_on"].initial = store_local_today(store.timezone)
