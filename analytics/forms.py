"""The dashboard's filter form. It only renders the filters: the query string is parsed, validated and turned
into ``Filters`` by ``analytics.filters.filters_from_params`` (the same code path as the API and reports), whose
``FilterError`` messages the page shows. Field names are the query parameters (``from``, ``to``, ``store``...),
so the form submits exactly the URL the API and the CSV links take.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import groupby

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from analytics.filters import Compare, Filters, Preset

PRESET_LABELS = {
    Preset.TODAY: "Today",
    Preset.YESTERDAY: "Yesterday",
    Preset.LAST_7: "Last 7 days",
    Preset.LAST_30: "Last 30 days",
    Preset.LAST_90: "Last 90 days",
    Preset.MONTH_TO_DATE: "Month to date",
    Preset.QUARTER_TO_DATE: "Quarter to date",
    Preset.YEAR_TO_DATE: "Year to date",
    Preset.LAST_2_YEARS: "Last 2 years",
    Preset.CUSTOM: "Custom dates",
}
COMPARE_LABELS = {
    Compare.PREVIOUS: "Previous period",
    Compare.LAST_YEAR: "Same period last year",
    Compare.NONE: "No comparison",
}
CHANNEL_CHOICES = [("", "Online and in store"), ("online", "Online"), ("offline", "In store")]
# The query parameters of the dashboard, in the order links write them.
FILTER_PARAMETERS = ("preset", "from", "to", "compare", "channel", "store", "region", "category")
NO_REGION = "No region"


def store_choices(stores: Iterable) -> list:
    """Store codes grouped by region for a ``<select multiple>`` with ``<optgroup>``s; ``stores`` ordered by
    region then name."""
    return [
        (region or NO_REGION, [(store.code, f"{store.name} ({store.code})") for store in group])
        for region, group in groupby(stores, key=lambda store: store.region)
    ]


class GroupedSelectMultiple(forms.SelectMultiple):
    """A ``<select multiple>`` with ``<optgroup>``s rendered in Python: Django renders each option through a
    template, which costs ~0.1 ms per option, and a brand has hundreds of stores."""

    def render(self, name, value, attrs=None, renderer=None):
        selected = {str(item) for item in (value or [])}
        final_attrs = self.build_attrs(self.attrs, {**(attrs or {}), "name": name, "multiple": True})
        groups = []
        for group_label, options in self.choices:
            rendered = "".join(
                format_html(
                    '<option value="{}"{}>{}</option>',
                    code,
                    mark_safe(" selected") if str(code) in selected else "",
                    label,
                )
                for code, label in options
            )
            groups.append(format_html('<optgroup label="{}">{}</optgroup>', group_label, mark_safe(rendered)))  # noqa: S308
        return format_html("<select{}>{}</select>", flatatt(final_attrs), mark_safe("".join(groups)))  # noqa: S308


class DashboardFilterForm(forms.Form):
    def __init__(self, *, stores: list, categories: Iterable, initial: Mapping, show_stores: bool = True):
        super().__init__(initial=initial, auto_id="filter-%s", use_required_attribute=False)
        self.fields["preset"] = forms.ChoiceField(label="Period", choices=[(p.value, PRESET_LABELS[p]) for p in Preset])
        self.fields["from"] = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
        self.fields["to"] = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))
        self.fields["compare"] = forms.ChoiceField(
            label="Compare with", choices=[(c.value, COMPARE_LABELS[c]) for c in Compare]
        )
        self.fields["channel"] = forms.ChoiceField(label="Channel", choices=CHANNEL_CHOICES)
        self.fields["category"] = forms.ChoiceField(
            label="Category", choices=[("", "All categories"), *((c.name, c.name) for c in categories)]
        )
        if show_stores:
            regions = sorted({store.region for store in stores if store.region})
            self.fields["region"] = forms.ChoiceField(
                label="Region", choices=[("", "All regions"), *((r, r) for r in regions)]
            )
            self.fields["store"] = forms.MultipleChoiceField(
                label="Stores",
                choices=store_choices(stores),
                help_text="None selected: every store. Ctrl/⌘-click to pick several.",
                widget=GroupedSelectMultiple(attrs={"size": min(8, max(3, len(stores) + len(regions)))}),
            )


def initial_from(filters: Filters | None, params: Mapping) -> dict:
    """What the form shows: the effective dates of the filters (a preset resolved to its range), and the
    parameters as given for the rest (store codes, category name)."""
    initial = {key: params.get(key, "") for key in ("preset", "compare", "channel", "region", "category")}
    initial["store"] = params.getlist("store") if hasattr(params, "getlist") else params.get("store", [])
    initial["from"] = params.get("from", "")
    initial["to"] = params.get("to", "")
    if filters is not None:
        initial.update(
            preset=filters.preset.value,
            compare=filters.compare.value,
            channel=filters.channel or "",
            **{"from": filters.date_from.isoformat(), "to": filters.date_to.isoformat()},
        )
    return initial
