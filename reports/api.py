"""The reports endpoints of the partner API.

- ``POST /api/v1/reports/`` (``reports:write``) → 202 with the queued job (an identical pending request answers
  the job already queued, not a new one).
- ``GET /api/v1/reports/{id}/`` (``reports:read``): status, progress, rows, SHA-256, parameters, data as of.
- ``GET /api/v1/reports/{id}/download/`` (``reports:read``): the file, ``Content-Disposition: attachment``;
  409 while it is not ready, 410 once expired.
- ``POST /api/v1/reports/{id}/cancel/`` (``reports:write``).

Another merchant's job answers 404. A key acts with an admin's reach: every store, and the customers report
with the names and e-mails the merchant stores.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from merchants.api_auth import TenantAPIMixin
from merchants.models import ApiScope

from . import selectors, services
from .serializers import ReportCreateSerializer, ReportJobSerializer
from .views import download_state, file_response

REPORT_ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The report's id.")


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class Gone(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_code = "gone"


class ReportJobMixin(TenantAPIMixin):
    def get_job(self):
        from django.http import Http404

        try:
            return selectors.report_job_get(tenant=self.tenant, pk=self.kwargs["pk"])
        except Http404:
            raise exceptions.NotFound("No report with this id.") from None

    def job_data(self, job) -> dict:
        return ReportJobSerializer(job, context={"request": self.request}).data


class ReportCreateView(ReportJobMixin, APIView):
    """``POST /api/v1/reports/``."""

    required_scopes = {"POST": [ApiScope.REPORTS_WRITE]}

    @extend_schema(
        operation_id="reports_create",
        tags=["reports"],
        summary="Order a report",
        description="Queue a report: `kind` (sales-summary, product-performance, store-performance, customers, "
        "order-lines, import-errors), `format` (csv or xlsx), `gzip` (CSV only) and `params`, the dashboard's "
        "filters (`from`/`to` or `preset`, `channel`, `store` codes, `region`, `category`, `compare`; `interval` "
        "for sales-summary; `import_job` for import-errors). The answer (202) is the job: poll its `url` until "
        "`status` is `succeeded` (then GET `download_url`), `failed` or `cancelled`. An identical request still "
        "queued or running answers that same job. A merchant runs at most 3 reports at a time; the others wait "
        "(`waiting_for_slot`). XLSX holds at most 3 sheets of 1,048,575 rows: bigger reports fail with a message "
        "asking for CSV. Scope: `reports:write`.",
        request=ReportCreateSerializer,
        responses={202: ReportJobSerializer},
        examples=[
            OpenApiExample(
                "Order lines of May as CSV",
                value={"kind": "order-lines", "format": "csv", "params": {"from": "2024-05-01", "to": "2024-05-31"}},
                request_only=True,
            )
        ],
    )
    def post(self, request, *args, **kwargs):
        serializer = ReportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        params = {key: value for key, value in request.data.get("params", {}).items() if key in data["params"]}
        try:
            job, _created = services.report_job_create(
                tenant=self.tenant,
                kind=data["kind"],
                format=data["format"],
                gzip=data["gzip"],
                params=params,
                actor=request.user,
                api_key=self.api_key,
                request=request,
            )
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                detail = {
                    key if key in ("kind", "format", "gzip") else f"params.{key}": value
                    for key, value in error.message_dict.items()
                }
                raise exceptions.ValidationError(_nest(detail)) from None
            raise exceptions.ValidationError(error.messages) from None
        body = self.job_data(job)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


def _nest(detail: dict) -> dict:
    nested: dict = {}
    for key, value in detail.items():
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            nested[head] = value
    return nested


class ReportDetailView(ReportJobMixin, APIView):
    """``GET /api/v1/reports/{id}/``."""

    required_scopes = {"GET": [ApiScope.REPORTS_READ]}

    @extend_schema(
        operation_id="reports_retrieve",
        tags=["reports"],
        summary="Get a report",
        description="One report job: status, progress (rows written of rows expected), rows, bytes, SHA-256 of "
        "the file, its parameters and the time its data were read (`data_as_of`). Another merchant's report "
        "answers 404. Scope: `reports:read`.",
        parameters=[REPORT_ID_PARAMETER],
        responses={200: ReportJobSerializer},
    )
    def get(self, request, *args, **kwargs):
        return Response(self.job_data(self.get_job()))


class ReportDownloadView(ReportJobMixin, APIView):
    """``GET /api/v1/reports/{id}/download/``."""

    required_scopes = {"GET": [ApiScope.REPORTS_READ]}

    @extend_schema(
        operation_id="reports_download",
        tags=["reports"],
        summary="Download a report's file",
        description="The file (CSV, gzip CSV or XLSX) as an attachment, named in `Content-Disposition`; the header "
        "`X-Report-SHA256` repeats its SHA-256. 409 while the report is not built (or failed), 410 once its "
        "file has expired. Scope: `reports:read`.",
        parameters=[REPORT_ID_PARAMETER],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The report file."),
            409: OpenApiResponse(description="Not built (yet): see the job's `status`."),
            410: OpenApiResponse(description="The file has expired: order the report again."),
        },
    )
    def get(self, request, *args, **kwargs):
        job = self.get_job()
        state = download_state(job)
        if state == "gone":
            raise Gone(f"Report {job.pk}'s file has expired and was deleted: order the report again.")
        if state == "not_ready":
            raise Conflict(f"Report {job.pk} is {job.status}: there is no file to download.")
        return file_response(job)


class ReportCancelView(ReportJobMixin, APIView):
    """``POST /api/v1/reports/{id}/cancel/``."""

    required_scopes = {"POST": [ApiScope.REPORTS_WRITE]}

    @extend_schema(
        operation_id="reports_cancel",
        tags=["reports"],
        summary="Cancel a report",
        description="A queued report is cancelled at once; a running one gets `cancel_requested` and stops after "
        "the part it is writing (no file is kept). 409 when it has already finished. Scope: `reports:write`.",
        request=None,
        parameters=[REPORT_ID_PARAMETER],
        responses={202: ReportJobSerializer, 409: OpenApiResponse(description="The report has already finished.")},
    )
    def post(self, request, *args, **kwargs):
        job = self.get_job()
        try:
            job = services.report_job_cancel(job=job, actor=request.user, request=request)
        except ValidationError as error:
            raise Conflict(" ".join(error.messages)) from None
        return Response(self.job_data(job), status=status.HTTP_202_ACCEPTED)
