"""The stores endpoints of the partner API: ``/api/v1/stores/`` and ``/api/v1/stores/{code}/``.

Stores are never deleted (they carry sales history): ``POST /api/v1/stores/{code}/close/`` closes one, and
``DELETE`` answers 405. Writes go through ``stores.services`` with the API key as the actor, so each writes an
audit row naming the key.
"""

from __future__ import annotations

import django_filters
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.reverse import reverse

from core.api import TenantWriteViewSetMixin
from merchants.api_auth import TenantAPIMixin
from merchants.models import ApiScope
from stores.models import Store, StoreStatus
from stores.serializers import StoreCloseSerializer, StoreInputSerializer, StoreOutputSerializer
from stores.services import store_close, store_create, store_update
from stores.validation import normalize_store_code

STORE_CODE_LOOKUP_REGEX = r"[^/]+"

CODE_PARAMETER = OpenApiParameter(
    "code",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The store's code (unique per merchant, case-insensitive).",
)

STORE_EXAMPLE = {
    "code": "PAR-01",
    "name": "Paris Marais",
    "address_line1": "12 rue des Francs-Bourgeois",
    "address_line2": "",
    "city": "Paris",
    "region": "Île-de-France",
    "postal_code": "75004",
    "country": "FR",
    "latitude": "48.857700",
    "longitude": "2.358900",
    "timezone": "Europe/Paris",
    "opening_hours": {"mon": ["10:00-19:00"], "sat": ["10:00-13:00", "14:00-20:00"], "sun": []},
    "opened_on": "2019-04-01",
}
STORE_OUTPUT_EXAMPLE = {
    **STORE_EXAMPLE,
    "status": "active",
    "closed_on": None,
    "created_at": "2024-05-02T09:30:00Z",
    "updated_at": "2024-05-02T09:30:00Z",
}


STORE_WRITES = ["create", "update", "partial_update"]


class StoreFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=StoreStatus.choices, help_text="Only stores with this status.")
    country = django_filters.CharFilter(
        method="filter_country", help_text="Only stores in this country (ISO 3166-1 alpha-2 code, e.g. FR)."
    )
    region = django_filters.CharFilter(
        field_name="region", lookup_expr="iexact", help_text="Only stores in this region (case-insensitive)."
    )
    search = django_filters.CharFilter(
        method="filter_search", help_text="Stores whose code, name or city contains this text (case-insensitive)."
    )

    class Meta:
        model = Store
        fields = ["status", "country", "region", "search"]

    def filter_country(self, queryset, name, value: str):
        return queryset.filter(country=value.strip().upper())

    def filter_search(self, queryset, name, value: str):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(code__icontains=value) | Q(name__icontains=value) | Q(city__icontains=value))


@extend_validation_errors(["invalid_store_code", "unique"], field_name="code", actions=["create"])
@extend_validation_errors(["invalid_country"], field_name="country", actions=STORE_WRITES)
@extend_validation_errors(["invalid_timezone"], field_name="timezone", actions=STORE_WRITES)
@extend_validation_errors(["invalid_hours", "overlapping_hours"], field_name="opening_hours", actions=STORE_WRITES)
@extend_schema(tags=["stores"])
@extend_schema_view(
    list=extend_schema(
        operation_id="stores_list",
        summary="List stores",
        description="The merchant's stores, ordered by code, paginated. Scope: `stores:read`.",
    ),
    create=extend_schema(
        operation_id="stores_create",
        summary="Create a store",
        description="Create a store. The code must be new for this merchant. Scope: `stores:write`.",
        request=StoreInputSerializer,
        responses={201: StoreOutputSerializer},
        examples=[
            OpenApiExample("A Paris store", value=STORE_EXAMPLE, request_only=True),
            OpenApiExample("Created", value=STORE_OUTPUT_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    ),
    retrieve=extend_schema(
        operation_id="stores_retrieve",
        summary="Get a store",
        description="One store by code. Another merchant's code answers 404, like a missing one. Scope: `stores:read`.",
        parameters=[CODE_PARAMETER],
    ),
    update=extend_schema(
        operation_id="stores_update",
        summary="Replace a store",
        description="Replace a store's fields: optional fields left out take their default (blank, null, no "
        "opening hours). The code is not changed (it is ignored if sent). Scope: `stores:write`.",
        parameters=[CODE_PARAMETER],
        request=StoreInputSerializer,
        responses={200: StoreOutputSerializer},
    ),
    partial_update=extend_schema(
        operation_id="stores_partial_update",
        summary="Change some fields of a store",
        description="Change only the fields sent. Scope: `stores:write`.",
        parameters=[CODE_PARAMETER],
        request=StoreInputSerializer,
        responses={200: StoreOutputSerializer},
        examples=[OpenApiExample("New opening hours", value={"opening_hours": {"sun": ["11:00-17:00"]}})],
    ),
)
class StoreViewSet(
    TenantAPIMixin,
    TenantWriteViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Stores of the key's merchant. ``DELETE`` is not offered (405): a store is closed, never deleted."""

    lookup_field = "code"
    lookup_value_regex = STORE_CODE_LOOKUP_REGEX
    serializer_class = StoreOutputSerializer
    filterset_class = StoreFilter
    required_scopes = {
        "list": [ApiScope.STORES_READ],
        "retrieve": [ApiScope.STORES_READ],
        "create": [ApiScope.STORES_WRITE],
        "update": [ApiScope.STORES_WRITE],
        "partial_update": [ApiScope.STORES_WRITE],
        "close": [ApiScope.STORES_WRITE],
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Store.objects.none()  # schema generation: no key, no tenant
        return self.tenant.scope(Store).order_by("code")

    def get_object(self) -> Store:
        # Codes are case-insensitive (stored upper-case); query filters don't apply to one store.
        return get_object_or_404(self.get_queryset(), code=normalize_store_code(self.kwargs["code"]))

    def _respond(self, store: Store, status_code: int = status.HTTP_200_OK, headers=None) -> Response:
        return Response(StoreOutputSerializer(store).data, status=status_code, headers=headers)

    def create(self, request, *args, **kwargs):
        serializer = StoreInputSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        store = store_create(merchant=self.merchant, actor=request.user, request=request, **serializer.validated_data)
        location = reverse("api:store-detail", kwargs={"code": store.code}, request=request)
        return self._respond(store, status.HTTP_201_CREATED, headers={"Location": location})

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        store = self.get_object()
        serializer = StoreInputSerializer(
            store, data=request.data, partial=partial, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        store = store_update(store=store, actor=request.user, request=request, **serializer.validated_data)
        return self._respond(store)

    @extend_schema(
        operation_id="stores_close",
        summary="Close a store",
        description="Mark a store closed (it is never deleted: its sales history stays). `closed_on` defaults "
        "to today in the store's time zone. Scope: `stores:write`.",
        parameters=[CODE_PARAMETER],
        request=StoreCloseSerializer,
        responses={200: StoreOutputSerializer},
        examples=[OpenApiExample("Closed at the end of June", value={"closed_on": "2024-06-30"}, request_only=True)],
    )
    @action(detail=True, methods=["post"])
    def close(self, request, *args, **kwargs):
        store = self.get_object()
        serializer = StoreCloseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        store = store_close(store=store, actor=request.user, request=request, **serializer.validated_data)
        return self._respond(store)
