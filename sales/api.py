"""The orders endpoints of the partner API.

- ``POST /api/v1/orders/batch/`` — up to 1,000 orders, answered per order (created / updated / unchanged /
  error with the JSON path of the bad field). Validated with pydantic (``sales.schemas``), written by the one
  ingestion service (``sales.ingest.service.orders_ingest``). ``Idempotency-Key`` supported
  (``sales.idempotency``). A ``Server-Timing`` header says where the time went (parse, validate, ingest).
- ``GET /api/v1/orders/`` — cursor-paginated on (placed_at, id), with filters.
- ``GET /api/v1/orders/{source}/{external_id}/`` — one order. External ids may contain any character: send
  them percent-encoded (``#`` → ``%23``, ``?`` → ``%3F``, ``%`` → ``%25``, ``/`` as is or ``%2F``); the path
  converter ``external_id`` in ``sales/api_urls.py`` takes everything up to the final slash.
"""

from __future__ import annotations

import time
from collections import Counter

import django_filters
import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.db.models import Prefetch
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import exceptions, generics, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from config.api_schema import AutoSchema
from merchants.api_auth import TenantAPIMixin
from merchants.models import ApiScope
from sales import idempotency
from sales.imports import import_job_create, job_progress
from sales.ingest.runtime import gc_relaxed
from sales.ingest.service import orders_ingest
from sales.ingest.types import OrderOutcome, RowError
from sales.models import Channel, ImportFormat, ImportJob, ImportMode, ImportRowError, Order, OrderLine
from sales.schemas import (
    BATCH_MAX_ORDERS,
    BatchBodyError,
    BatchError,
    ValidatedOrder,
    attr_from_ref,
    batch_orders,
    batch_validate,
)
from sales.serializers import (
    IdempotencyInProgressResponseSerializer,
    IdempotencyReusedResponseSerializer,
    OrderBatchResultSerializer,
    OrderBatchSerializer,
    OrderOutputSerializer,
)
from stores.validation import normalize_store_code

RESULTS = ("created", "updated", "unchanged", "error")


# --- the batch ----------------------------------------------------------------------------------


class OrderBatchParser(JSONParser):
    """JSON with orjson (several times faster than the standard library on a 1,000-order body)."""

    def parse(self, stream, media_type=None, parser_context=None):
        # DRF hands JSON parsers the request body (Django's DATA_UPLOAD_MAX_MEMORY_SIZE applies: see the view).
        try:
            return orjson.loads(stream.read())
        except orjson.JSONDecodeError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None


class OrderBatchSchema(AutoSchema):
    """A 400 here is about the body as a whole; per-order errors come back in the 200 answer, not as 400."""

    def _get_validation_error_codes_by_field(self, data_fields):
        return {
            "non_field_errors": {"invalid"},
            "orders": {"required", "null"},
            "orders.non_field_errors": {"not_a_list", "min_length", "max_length"},
            idempotency.HEADER: {"invalid"},
        }


BATCH_EXAMPLE = {
    "orders": [
        {
            "external_id": "POS-PAR01-000123",
            "channel": "offline",
            "store": "PAR-01",
            "placed_at": "2024-05-04T15:42:10+02:00",
            "currency": "EUR",
            "lines": [
                {"sku": "TEE-ORG/M/WHITE", "name": "Organic tee, white, M", "quantity": "2", "unit_price": "29.90"},
                {"sku": "MUG-01", "quantity": "1", "unit_price": "12.00", "discount": "2.00"},
            ],
            "tax": "11.97",
            "customer": {"loyalty_number": "LOY-88412", "phone": "+33 6 12 34 56 78"},
        },
        {
            "source": "shopify",
            "external_id": "#1042",
            "channel": "online",
            "placed_at": "2024-05-04T21:03:00Z",
            "currency": "EUR",
            "lines": [{"sku": "MUG-01", "quantity": 3, "unit_price": "12.00"}],
            "shipping": "4.90",
            "customer": {"email": "jo@example.com", "account_id": "7712001"},
        },
    ]
}
BATCH_RESULT_EXAMPLE = {
    "results": [
        {"index": 0, "external_id": "POS-PAR01-000123", "result": "created", "errors": []},
        {
            "index": 1,
            "external_id": "#1042",
            "result": "error",
            "errors": [
                {
                    "attr": "orders.1.lines.0.quantity",
                    "code": "max_decimal_places",
                    "detail": "At most 3 decimal places.",
                }
            ],
        },
    ],
    "summary": {"created": 1, "updated": 0, "unchanged": 0, "error": 1},
}

BATCH_DESCRIPTION = f"""Send 1 to {BATCH_MAX_ORDERS:,} orders with their lines and customer identifiers.
Scope: `sales:write`.

Each order is answered on its own, in the order sent: `created`, `updated` (it existed, identified by `source` +
`external_id`, and changed), `unchanged` (identical to what is stored: nothing written) or `error` with the reasons
and the JSON path of each bad field (`orders.3.lines.1.quantity`). An order with an error is not written at all;
the others are (a batch is not all or nothing, an order is). The answer is 200 whenever the body could be read,
even if every order has an error.

Checked for each order: types and formats, `placed_at` with its UTC offset (a naive date-time is refused), the
currency is the merchant's, an offline order has a store and the store code exists, at least one line, sales
with a quantity above 0 and returns with a quantity of 0 or less, amounts of 0 or more with at most 2 decimals,
and (source, external_id) not repeated earlier in the batch. Unknown SKUs create placeholder products flagged for
review. Text is stored as given (a name like `=HYPERLINK(...)` is text, never a formula). Unknown fields are
ignored.

The body as a whole answers 400 when it is not JSON, not an object with an `orders` list, empty, larger than
{settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024):g} MB, or has more than {BATCH_MAX_ORDERS:,} orders
(`attr`: `orders.non_field_errors`, `code`: `max_length`).

**Idempotency**: send an `Idempotency-Key` header (e.g. a UUID) to retry safely. The first answer is stored; the
same key with the same body (same endpoint, same JSON whatever the key order or spacing) gets that answer again,
with the header `Idempotent-Replayed: true`, and nothing is processed twice. The same key with another body
answers 422. A request sent while another with the same key is still running waits for it and gets its answer
(409 if that takes more than {int(idempotency.WAIT_SECONDS)} s). A 400 is not stored: fix the body and resend it
with the same key. Keys are per merchant.

The `Server-Timing` header of the answer gives the milliseconds spent parsing, validating and writing."""


class OrderBatchView(TenantAPIMixin, APIView):
    """``POST /api/v1/orders/batch/``."""

    parser_classes = [OrderBatchParser]
    required_scopes = {"POST": [ApiScope.SALES_WRITE]}
    schema = OrderBatchSchema()

    @extend_schema(
        operation_id="orders_batch",
        tags=["orders"],
        summary=f"Send up to {BATCH_MAX_ORDERS:,} orders",
        description=BATCH_DESCRIPTION,
        parameters=[
            OpenApiParameter(
                idempotency.HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description=f"1–{idempotency.KEY_MAX_LENGTH} printable ASCII characters, unique per request "
                "(e.g. a UUID). A retry with the same key and body gets the first answer without processing "
                "the orders again.",
            )
        ],
        request=OrderBatchSerializer,
        responses={
            200: OpenApiResponse(
                OrderBatchResultSerializer,
                description="One result per order. A replayed answer has the header `Idempotent-Replayed: true`.",
            ),
            409: OpenApiResponse(
                IdempotencyInProgressResponseSerializer,
                description="A request with the same Idempotency-Key is still running after "
                f"{int(idempotency.WAIT_SECONDS)} s: retry later.",
            ),
            422: OpenApiResponse(
                IdempotencyReusedResponseSerializer,
                description="The Idempotency-Key was already used with another body or endpoint.",
            ),
        },
        examples=[
            OpenApiExample("An in-store sale and an online order", value=BATCH_EXAMPLE, request_only=True),
            OpenApiExample("One created, one refused", value=BATCH_RESULT_EXAMPLE, response_only=True),
        ],
    )
    def post(self, request, *args, **kwargs):
        # The whole request with the ingest's relaxed collector thresholds, parsing and validation included:
        # with the default ones, parsing and validating a 1,000-order body (short-lived, acyclic objects) ran
        # the cyclic collector ~21 times, a full collection of the worker every fifth batch.
        with gc_relaxed():
            return self._post(request)

    def _post(self, request):
        key = idempotency.idempotency_key(request)
        started = time.perf_counter()
        try:
            body = request.data
        except RequestDataTooBig:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            raise exceptions.ParseError(
                f"The body is larger than {limit:,} bytes: send fewer orders per batch."
            ) from None
        timings = {"parse": time.perf_counter() - started}
        try:
            orders = batch_orders(body)
        except BatchBodyError as exc:
            raise exceptions.ValidationError(
                _nested(exc.attr, exceptions.ErrorDetail(exc.detail, code=exc.code))
            ) from None

        def compute() -> tuple[int, dict]:
            return 200, self._ingest(orders, timings)

        if key is None:
            status_code, answer, replayed = *compute(), False
        else:
            stored = idempotency.idempotent_answer(
                merchant=self.merchant,
                key=key,
                fingerprint=idempotency.request_fingerprint(request.method, request.path, body),
                compute=compute,
            )
            status_code, answer, replayed = stored.status_code, stored.body, stored.replayed
        headers = {"Server-Timing": ", ".join(f"{name};dur={1000 * value:.1f}" for name, value in timings.items())}
        if replayed:
            headers[idempotency.REPLAYED_HEADER] = "true"
        return Response(answer, status=status_code, headers=headers)

    def _ingest(self, orders: list, timings: dict[str, float]) -> dict:
        started = time.perf_counter()
        validated = batch_validate(orders, currency=self.merchant.currency)
        valid = [item.order for item in validated if item.order is not None]
        timings["validate"] = time.perf_counter() - started
        started = time.perf_counter()
        outcomes = orders_ingest(merchant=self.merchant, orders=valid, actor=self.request.user) if valid else []
        timings["ingest"] = time.perf_counter() - started
        return batch_answer(validated, outcomes)


def _nested(attr: str, error: exceptions.ErrorDetail) -> dict:
    """``orders.non_field_errors`` -> ``{"orders": {"non_field_errors": [error]}}`` (flattened back by the handler)."""
    head, _separator, rest = attr.partition(".")
    return {head: _nested(rest, error) if rest else [error]}


SERVICE_COLUMNS = {"occurred_at": "returned_at"}  # the service's names for this API's fields


def _service_error(error: RowError) -> BatchError:
    """An error the ingestion service found (it knows the stores), with the same path and code vocabulary."""
    column = SERVICE_COLUMNS.get(error.column, error.column)
    attr = attr_from_ref(error.ref, column)
    reason = error.reason
    if column == "store" and reason == "unknown store":
        code, reason = "unknown_store", f"No store of this merchant has the code “{error.value}”."
    elif column == "currency":
        code = "currency_mismatch"
    elif column == "external_id" and reason.startswith("duplicate"):
        code = "duplicate"
    elif "too large" in reason or "more than" in reason:
        code = "max_value"
    else:
        code = "invalid"
    return BatchError(attr, code, reason[:1].upper() + reason[1:] + ("" if reason.endswith(".") else "."))


def batch_answer(validated: list[ValidatedOrder], outcomes: list[OrderOutcome]) -> dict:
    """The 200 body: one result per order sent, in order, and the counts."""
    by_ref = {outcome.ref: outcome for outcome in outcomes}
    results = []
    summary = Counter({result: 0 for result in RESULTS})
    for item in validated:
        if item.order is None:
            result, errors = "error", [error.as_dict() for error in item.errors]
        else:
            outcome = by_ref[item.order.ref]
            result = outcome.result
            errors = [_service_error(error).as_dict() for error in outcome.errors]
        summary[result] += 1
        results.append({"index": item.index, "external_id": item.external_id, "result": result, "errors": errors})
    return {"results": results, "summary": dict(summary)}


# --- reads --------------------------------------------------------------------------------------


class OrderCursorPagination(CursorPagination):
    """Oldest first on (placed_at, id); ``?page_size=N`` (default 100, at most 1,000); follow ``next``."""

    ordering = ("placed_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class AwareIsoDateTimeField(IsoDateTimeField):
    default_error_messages = {
        "naive_datetime": _("Give the date-time with its UTC offset, e.g. 2024-05-01T00:00:00+02:00 or …Z."),
    }

    def to_python(self, value):
        # Django would read a naive value in the server's time zone: refuse it rather than guess.
        if isinstance(value, str) and value.strip():
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None
            if parsed is not None and parsed.utcoffset() is None:
                raise ValidationError(self.error_messages["naive_datetime"], code="naive_datetime")
        return super().to_python(value)


class AwareIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = AwareIsoDateTimeField


class OrderFilter(django_filters.FilterSet):
    placed_at_after = AwareIsoDateTimeFilter(
        field_name="placed_at",
        lookup_expr="gte",
        help_text="Only orders placed at or after this ISO 8601 date-time, with its offset "
        "(e.g. 2024-05-01T00:00:00+02:00).",
    )
    placed_at_before = AwareIsoDateTimeFilter(
        field_name="placed_at",
        lookup_expr="lt",
        help_text="Only orders placed before this ISO 8601 date-time (exclusive), with its offset.",
    )
    channel = django_filters.ChoiceFilter(choices=Channel.choices, help_text="Only online or only in-store orders.")
    store = django_filters.CharFilter(
        method="filter_store", help_text="Only orders of the store with this code (case-insensitive)."
    )
    source = django_filters.CharFilter(
        method="filter_source", help_text="Only orders from this source (api, shopify, square, csv, …)."
    )

    class Meta:
        model = Order
        fields = ["placed_at_after", "placed_at_before", "channel", "store", "source"]

    def filter_store(self, queryset, name, value: str):
        return queryset.filter(store__code=normalize_store_code(value))

    def filter_source(self, queryset, name, value: str):
        return queryset.filter(source=value.strip().lower())


SOURCE_PARAMETER = OpenApiParameter(
    "source", OpenApiTypes.STR, OpenApiParameter.PATH, description="Where the order came from (api, shopify, …)."
)
EXTERNAL_ID_PARAMETER = OpenApiParameter(
    "external_id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The order's id in its source. Percent-encode characters with a meaning in URLs (`#` → `%23`, "
    "`?` → `%3F`, `%` → `%25`, space → `%20`); `/` may be sent as is or as `%2F`. Everything up to the final "
    "slash is the id.",
)


class OrderReadMixin(TenantAPIMixin):
    serializer_class = OrderOutputSerializer
    required_scopes = {"GET": [ApiScope.SALES_READ]}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Order.objects.none()  # schema generation: no key, no tenant
        lines = self.tenant.scope(OrderLine).select_related("product").order_by("line_number")
        return self.tenant.scope(Order).select_related("store").prefetch_related(Prefetch("lines", queryset=lines))

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["merchant_timezone"] = self.merchant.timezone
        return context


@extend_schema_view(
    get=extend_schema(
        operation_id="orders_list",
        tags=["orders"],
        summary="List orders",
        description="The merchant's orders with their lines, oldest first (by `placed_at`, then id), cursor-paginated: "
        "follow `next` until it is null. New orders placed later appear on later pages, so a sync can keep the last "
        "`next`. Scope: `sales:read`.",
    )
)
class OrderListView(OrderReadMixin, generics.ListAPIView):
    """``GET /api/v1/orders/``."""

    pagination_class = OrderCursorPagination
    filterset_class = OrderFilter


@extend_schema_view(
    get=extend_schema(
        operation_id="orders_retrieve",
        tags=["orders"],
        summary="Get an order",
        description="One order by source and external id, with its lines. Another merchant's order answers 404, like "
        "a missing one. Scope: `sales:read`.",
        parameters=[SOURCE_PARAMETER, EXTERNAL_ID_PARAMETER],
    )
)
class OrderDetailView(OrderReadMixin, generics.RetrieveAPIView):
    """``GET /api/v1/orders/{source}/{external_id}/``."""

    def get_object(self) -> Order:
        return self.tenant.get_object(
            self.get_queryset(), source=self.kwargs["source"], external_id=self.kwargs["external_id"]
        )


# --- file imports -------------------------------------------------------------------------------
# ``POST /api/v1/imports/`` (multipart), ``GET /api/v1/imports/``, ``GET /api/v1/imports/{id}/`` and
# ``GET /api/v1/imports/{id}/errors/``. The job runs in the background (``sales.tasks``); poll the job.


class ImportProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text="Bytes of the file read so far.")
    total = serializers.IntegerField(help_text="Size of the file in bytes.")
    percent = serializers.IntegerField(min_value=0, max_value=100)
    rows = serializers.IntegerField(help_text="Data rows read so far.")


class ImportJobSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    errors_url = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "url",
            "status",
            "format",
            "mode",
            "original_name",
            "size_bytes",
            "file_sha256",
            "progress",
            "rows_read",
            "orders_created",
            "orders_updated",
            "orders_unchanged",
            "lines_written",
            "error_count",
            "error_message",
            "unknown_stores",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
            "errors_url",
        ]
        read_only_fields = fields

    @extend_schema_field(ImportProgressSerializer)
    def get_progress(self, job: ImportJob) -> dict:
        return job_progress(job)

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, job: ImportJob) -> str:
        return reverse("api:import-detail", kwargs={"pk": job.pk}, request=self.context.get("request"))

    @extend_schema_field(OpenApiTypes.URI)
    def get_errors_url(self, job: ImportJob) -> str:
        return reverse("api:import-errors", kwargs={"pk": job.pk}, request=self.context.get("request"))


class ImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The sales file (CSV or JSON lines).")
    format = serializers.ChoiceField(
        choices=ImportFormat.choices,
        required=False,
        allow_blank=True,
        help_text="The file's format; left out or empty: detected from the header.",
    )
    mode = serializers.ChoiceField(choices=ImportMode.choices, default=ImportMode.ALL_OR_NOTHING)


class ImportRowErrorSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportRowError
        fields = ["row", "column", "value", "reason"]
        read_only_fields = fields


IMPORT_ID_PARAMETER = OpenApiParameter(
    "id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The import job's id."
)


class ImportJobMixin(TenantAPIMixin):
    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ImportJob.objects.none()  # schema generation: no key, no tenant
        return self.tenant.scope(ImportJob).order_by("-created_at", "-pk")


@extend_schema_view(
    get=extend_schema(
        operation_id="imports_list",
        tags=["imports"],
        summary="List file imports",
        description="The merchant's import jobs, newest first. Scope: `sales:read`.",
    ),
    post=extend_schema(
        operation_id="imports_create",
        tags=["imports"],
        summary="Import a sales file",
        description="Upload a sales file (multipart: `file`, optional `format` and `mode`). The import runs in the "
        "background: the answer (202) is the queued job; poll its `url` until `status` is `succeeded`, `failed` or "
        "`needs_mapping` (store names in the file match no store: map them in the portal). Scope: `sales:write`.",
        request={"multipart/form-data": ImportCreateSerializer},
        responses={202: ImportJobSerializer},
    ),
)
class ImportListCreateView(ImportJobMixin, generics.ListCreateAPIView):
    """``GET`` / ``POST /api/v1/imports/``."""

    serializer_class = ImportJobSerializer
    parser_classes = [MultiPartParser, FormParser]
    required_scopes = {"GET": [ApiScope.SALES_READ], "POST": [ApiScope.SALES_WRITE]}

    def create(self, request, *args, **kwargs):
        form = ImportCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            job = import_job_create(
                merchant=self.merchant,
                file=form.validated_data["file"],
                format=form.validated_data.get("format") or None,
                mode=form.validated_data["mode"],
                actor=request.user,
                request=request,
                api_key=self.api_key,
            )
        except ValidationError as error:
            detail = error.message_dict if hasattr(error, "error_dict") else error.messages
            raise exceptions.ValidationError(detail) from None
        data = ImportJobSerializer(job, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


@extend_schema_view(
    get=extend_schema(
        operation_id="imports_retrieve",
        tags=["imports"],
        summary="Get a file import",
        description="One import job: status, progress (bytes read of the file size), counts and the link to its row "
        "errors. Another merchant's job answers 404, like a missing one. Scope: `sales:read`.",
        parameters=[IMPORT_ID_PARAMETER],
    )
)
class ImportDetailView(ImportJobMixin, generics.RetrieveAPIView):
    """``GET /api/v1/imports/{id}/``."""

    serializer_class = ImportJobSerializer
    required_scopes = {"GET": [ApiScope.SALES_READ]}

    def get_object(self) -> ImportJob:
        return self.tenant.get_object(self.get_queryset(), pk=self.kwargs["pk"])


@extend_schema_view(
    get=extend_schema(
        operation_id="imports_errors_list",
        tags=["imports"],
        summary="List a file import's row errors",
        description="The row errors of one import (row number in the file, header = 1; column; value; reason), by "
        "row. At most 10,000 are kept; the job's `error_count` counts them all. Scope: `sales:read`.",
        parameters=[IMPORT_ID_PARAMETER],
    )
)
class ImportErrorListView(TenantAPIMixin, generics.ListAPIView):
    """``GET /api/v1/imports/{id}/errors/``."""

    serializer_class = ImportRowErrorSerializer
    required_scopes = {"GET": [ApiScope.SALES_READ]}
    filterset_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ImportRowError.objects.none()
        job = self.tenant.get_object(ImportJob, pk=self.kwargs["pk"])
        return self.tenant.scope(ImportRowError).filter(job=job).order_by("row", "id")
