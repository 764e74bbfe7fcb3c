"""Forms of the sales import pages."""

from __future__ import annotations

from django import forms

from sales.models import ImportFormat, ImportMode

UPLOAD_MAX_BYTES = 2 * 1024**3  # 2 GiB


class ImportUploadForm(forms.Form):
    file = forms.FileField(label="Sales file", help_text="CSV or JSON lines, up to 2 GB.")
    format = forms.ChoiceField(
        label="Format",
        choices=[("", "Detect automatically")] + list(ImportFormat.choices),
        required=False,
    )
    mode = forms.ChoiceField(
        label="If some rows are invalid",
        choices=[
            (ImportMode.ALL_OR_NOTHING, "Import nothing (all or nothing)"),
            (ImportMode.SKIP_INVALID, "Import the valid orders, skip the invalid ones"),
        ],
        initial=ImportMode.ALL_OR_NOTHING,
    )

    def clean_file(self):
        file = self.cleaned_data["file"]
        if file.size == 0:
            raise forms.ValidationError("The file is empty.")
        if file.size > UPLOAD_MAX_BYTES:
            raise forms.ValidationError("The file is larger than 2 GB: split it and import the parts.")
        return file


class StoreMappingForm(forms.Form):
    """One select per unknown store name: which of the merchant's stores it is."""

    def __init__(self, *args, names: list[str], stores, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "Choose a store…")] + [(store.code, f"{store.name} ({store.code})") for store in stores]
        self.names = names
        for index, name in enumerate(names):
            self.fields[f"store_{index}"] = forms.ChoiceField(label=name, choices=choices)

    def mapping(self) -> dict[str, str]:
        return {name: self.cleaned_data[f"store_{index}"] for index, name in enumerate(self.names)}
