"""Forms shared by several apps."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from .csv_import import ImportMode

MAX_IMPORT_BYTES = 10 * 1024 * 1024


class CsvImportForm(forms.Form):
    """The upload form shared by the store and product import pages."""

    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 CSV (comma, semicolon or tab separated), up to 10 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    mode = forms.ChoiceField(
        label="If some rows have errors",
        choices=[
            (ImportMode.ALL_OR_NOTHING.value, "Import nothing, so I can fix the file (recommended)"),
            (ImportMode.SKIP_INVALID.value, "Import the valid rows and list the others"),
        ],
        initial=ImportMode.ALL_OR_NOTHING.value,
        widget=forms.RadioSelect,
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise ValidationError(
                f"The file is {upload.size / 1024 / 1024:.1f} MB; the limit is {MAX_IMPORT_BYTES // 1024 // 1024} MB. "
                "Split it into smaller files."
            )
        return upload


def add_service_errors(form: forms.BaseForm, error: ValidationError) -> None:
    """Attach a service's ValidationError to a form: errors on the form's fields go next to them, the rest
    (fields the form doesn't show, or no field at all) at the top of the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field_name, messages in error.message_dict.items():
        if field_name in form.fields:
            form.add_error(field_name, messages)
        else:
            label = "" if field_name == "__all__" else f"{field_name.replace('_', ' ').capitalize()}: "
            form.add_error(None, [f"{label}{message}" for message in messages])
