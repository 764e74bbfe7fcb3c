"""Forms of the reports pages: ordering a report (one form per kind) and scheduling one."""

from __future__ import annotations

from django import forms

from analytics.filters import Compare
from catalog.models import Category
from merchants.models import Membership, Role
from merchants.tenancy import Tenant
from stores.models import Store

from .kinds import INTERVALS
from .models import ReportFormat, ReportKind, ScheduleFrequency

CHANNEL_CHOICES = [("", "Online and in store"), ("online", "Online"), ("offline", "In store")]
COMPARE_CHOICES = [
    (Compare.PREVIOUS.value, "Previous period"),
    (Compare.LAST_YEAR.value, "Last year"),
    (Compare.NONE.value, "None"),
]


def filter_choices(tenant: Tenant) -> dict:
    """Store and category choices, read once for the several forms of a page."""
    stores = tenant.scope(Store).order_by("code").values_list("code", "name")
    categories = Category.objects.for_merchant(tenant.merchant).order_by("name").values_list("name", flat=True)
    return {
        "store": [(code, f"{code} — {name}") for code, name in stores],
        "category": [("", "Every category")] + [(name, name) for name in categories],
    }


class _FilterFields(forms.Form):
    """The dashboard's filters, with choices from the tenant's stores and categories."""

    format = forms.ChoiceField(choices=ReportFormat.choices, initial=ReportFormat.CSV)
    gzip = forms.BooleanField(label="Compress (gzip, CSV only)", required=False)
    channel = forms.ChoiceField(choices=CHANNEL_CHOICES, required=False)
    store = forms.MultipleChoiceField(
        label="Stores", required=False, help_text="None chosen: every store you can see.", widget=forms.SelectMultiple
    )
    category = forms.ChoiceField(required=False)
    compare = forms.ChoiceField(label="Compare with", choices=COMPARE_CHOICES, required=False)
    interval = forms.ChoiceField(choices=[(value, value.capitalize()) for value in INTERVALS], required=False)

    def __init__(self, *args, tenant: Tenant, kind: str, choices: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        choices = choices or filter_choices(tenant)
        self.fields["store"].choices = choices["store"]
        self.fields["category"].choices = choices["category"]
        if kind != ReportKind.SALES_SUMMARY:
            del self.fields["interval"]
        if kind != ReportKind.STORE_PERFORMANCE:
            del self.fields["compare"]

    def params(self) -> dict:
        data = self.cleaned_data
        params = {key: data.get(key) for key in ("channel", "store", "category", "compare", "interval")}
        return {key: value for key, value in params.items() if value not in (None, "", [])}


class ReportRequestForm(_FilterFields):
    """Order one report: the date range (or a preset) and the filters."""

    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    import_job = forms.IntegerField(label="Import number", required=False, min_value=1)

    field_order = ["date_from", "date_to", "import_job", "channel", "store", "category", "compare", "interval"]

    def __init__(self, *args, tenant: Tenant, kind: str, **kwargs):
        super().__init__(*args, tenant=tenant, kind=kind, **kwargs)
        if kind == ReportKind.IMPORT_ERRORS:
            for name in ("date_from", "date_to", "channel", "store", "category"):
                del self.fields[name]
            self.fields["import_job"].required = True
        else:
            del self.fields["import_job"]
            self.fields["date_from"].required = self.fields["date_to"].required = True

    def params(self) -> dict:
        data = self.cleaned_data
        if self.kind == ReportKind.IMPORT_ERRORS:
            return {"import_job": data["import_job"]}
        params = super().params()
        params["from"] = data["date_from"].isoformat()
        params["to"] = data["date_to"].isoformat()
        return params

    def clean(self):
        data = super().clean()
        if data.get("gzip") and data.get("format") != ReportFormat.CSV:
            self.add_error("gzip", "Only CSV files can be compressed (an XLSX file already is).")
        return data


def initial_from_query(query) -> dict:
    """Pre-fill from the dashboard's "export this" link: ``?kind=...&from=...&to=...&store=...``."""
    initial = {}
    for key, field in (("from", "date_from"), ("to", "date_to"), ("channel", "channel"), ("category", "category")):
        if query.get(key):
            initial[field] = query.get(key)
    for key in ("compare", "interval", "format", "import_job"):
        if query.get(key):
            initial[key] = query.get(key)
    stores = [code for value in query.getlist("store") for code in value.split(",") if code.strip()]
    if stores:
        initial["store"] = [code.strip().upper() for code in stores]
    return initial


class ScheduleForm(_FilterFields):
    name = forms.CharField(max_length=120)
    kind = forms.ChoiceField(
        label="Report",
        choices=[(value, label) for value, label in ReportKind.choices if value != ReportKind.IMPORT_ERRORS],
    )
    frequency = forms.ChoiceField(choices=ScheduleFrequency.choices)
    recipients = forms.MultipleChoiceField(label="Send to", widget=forms.CheckboxSelectMultiple)

    field_order = ["name", "kind", "frequency", "format", "recipients", "channel", "store", "category"]

    def __init__(self, *args, tenant: Tenant, **kwargs):
        super().__init__(*args, tenant=tenant, kind=ReportKind.SALES_SUMMARY, **kwargs)
        del self.fields["gzip"]
        members = Membership.objects.filter(merchant=tenant.merchant).select_related("user").order_by("user__email")
        self.fields["recipients"].choices = [(str(m.pk), f"{m.user.email} ({Role(m.role).label})") for m in members]

    def recipient_ids(self) -> list[int]:
        return [int(pk) for pk in self.cleaned_data["recipients"]]
