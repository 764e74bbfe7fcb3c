"""Serializers of the reports API: the request (input) and the job (output) are kept apart."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from .models import ReportFormat, ReportJob, ReportKind

CHANNEL_CHOICES = [("online", "Online"), ("offline", "In store"), ("all", "Both")]


class ReportParamsSerializer(serializers.Serializer):
    """The dashboard's filters (the analytics API's query keys). Every key is optional."""

    # "from" is a Python keyword: declared below under its API name.
    to = serializers.DateField(required=False, help_text="Last local day, inclusive (YYYY-MM-DD).")
    preset = serializers.CharField(
        required=False,
        help_text="Instead of from/to: today, yesterday, last_7, last_30 (default), last_90, mtd, qtd, ytd, last_730.",
    )
    channel = serializers.ChoiceField(choices=CHANNEL_CHOICES, required=False)
    store = serializers.ListField(child=serializers.CharField(), required=False, help_text="Store codes.")
    region = serializers.CharField(required=False)
    category = serializers.CharField(required=False, help_text="A category name.")
    compare = serializers.ChoiceField(choices=["previous", "last_year", "none"], required=False)
    interval = serializers.ChoiceField(
        choices=["day", "week", "month"], required=False, help_text="sales-summary only (default day)."
    )
    import_job = serializers.IntegerField(required=False, help_text="import-errors only: the import's id.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateField(required=False, help_text="First local day, inclusive (YYYY-MM-DD).")
        return fields


class ReportCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ReportKind.choices)
    format = serializers.ChoiceField(choices=ReportFormat.choices, default=ReportFormat.CSV)
    gzip = serializers.BooleanField(default=False, help_text="Compress a CSV with gzip.")
    params = ReportParamsSerializer(required=False, default=dict)


class ReportProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text="Rows written so far.")
    total = serializers.IntegerField(help_text="Rows expected (0 while unknown).")
    percent = serializers.IntegerField(min_value=0, max_value=100)


class ReportJobSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    waiting_for_slot = serializers.BooleanField(
        read_only=True, help_text="Queued behind the merchant's maximum of running reports."
    )
    period = serializers.SerializerMethodField()

    class Meta:
        model = ReportJob
        fields = [
            "id",
            "url",
            "kind",
            "format",
            "gzip",
            "params",
            "period",
            "status",
            "waiting_for_slot",
            "cancel_requested",
            "progress",
            "rows",
            "bytes",
            "sha256",
            "filename",
            "download_url",
            "data_as_of",
            "error_message",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
            "expires_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, job: ReportJob) -> str:
        return reverse("api:report-detail", kwargs={"pk": job.pk}, request=self.context.get("request"))

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, job: ReportJob) -> str | None:
        if job.status != "succeeded":
            return None
        return reverse("api:report-download", kwargs={"pk": job.pk}, request=self.context.get("request"))

    @extend_schema_field(ReportProgressSerializer)
    def get_progress(self, job: ReportJob) -> dict:
        return {"done": job.progress_done, "total": job.progress_total, "percent": job.progress_percent}

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {"from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"}},
        }
    )
    def get_period(self, job: ReportJob) -> dict | None:
        resolved = job.resolved or {}
        if not resolved.get("date_from"):
            return None
        return {"from": resolved["date_from"], "to": resolved["date_to"]}
