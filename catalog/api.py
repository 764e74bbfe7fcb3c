"""The catalog endpoints of the partner API: products (one at a time and in bulk) and categories.

SKUs may contain ``/`` (see ``catalog.validation``), so the product URL takes everything between
``/api/v1/products/`` and the final slash as the SKU: ``/api/v1/products/TEE/M/RED/`` is SKU ``TEE/M/RED``
(``%2F`` works too). Characters with a meaning in URLs (``?``, ``#``, ``%``, spaces) are percent-encoded as
usual. The one SKU this cannot address is ``bulk`` (``/api/v1/products/bulk/`` is the bulk upsert): read it
with ``GET /api/v1/products/?sku=bulk`` and change it through the bulk upsert.
"""

from __future__ import annotations

import django_filters
from django.db.models import Count, Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import mixins, status, viewsets
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from catalog.models import Category, Product
from catalog.serializers import (
    BULK_MAX_PRODUCTS,
    CategorySerializer,
    ProductBulkResultSerializer,
    ProductBulkSerializer,
    ProductInputSerializer,
    ProductOutputSerializer,
)
from catalog.services import product_create, product_update, products_upsert
from core.api import TenantWriteViewSetMixin
from merchants.api_auth import TenantAPIMixin
from merchants.models import ApiScope

SKU_LOOKUP_REGEX = r".+"  # SKUs may contain "/": the SKU runs to the URL's final slash

SKU_PARAMETER = OpenApiParameter(
    "sku",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The product's SKU (case-sensitive). It may contain `/`, sent as is or as `%2F`; percent-encode "
    "`?`, `#`, `%` and spaces. SKU `bulk` is only reachable through `?sku=bulk` on the list.",
)

PRODUCT_EXAMPLE = {
    "sku": "TEE-ORG/M/WHITE",
    "name": "Organic tee, white, M",
    "category": "T-shirts",
    "brand": "Maison Alpha",
    "price": "29.90",
    "active": True,
}
PRODUCT_OUTPUT_EXAMPLE = {
    **PRODUCT_EXAMPLE,
    "is_placeholder": False,
    "created_at": "2024-05-02T09:30:00Z",
    "updated_at": "2024-05-02T09:30:00Z",
}


class ProductFilter(django_filters.FilterSet):
    sku = django_filters.CharFilter(field_name="sku", help_text="Only the product with exactly this SKU.")
    category = django_filters.CharFilter(
        field_name="category__name", lookup_expr="iexact", help_text="Only products of this category (its name)."
    )
    active = django_filters.BooleanFilter(help_text="Only active (true) or inactive (false) products.")
    is_placeholder = django_filters.BooleanFilter(
        help_text="Only products created automatically from unknown SKUs (true), or only the others (false)."
    )
    search = django_filters.CharFilter(
        method="filter_search", help_text="Products whose SKU, name or brand contains this text (case-insensitive)."
    )
    updated_since = django_filters.IsoDateTimeFilter(
        field_name="updated_at",
        lookup_expr="gte",
        help_text="Only products changed at or after this ISO 8601 date-time (e.g. 2024-05-01T00:00:00Z).",
    )

    class Meta:
        model = Product
        fields = ["sku", "category", "active", "is_placeholder", "search", "updated_since"]

    def filter_search(self, queryset, name, value: str):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(sku__icontains=value) | Q(name__icontains=value) | Q(brand__icontains=value))


@extend_validation_errors(["invalid_sku", "unique"], field_name="sku", actions=["create"])
@extend_schema(tags=["products"])
@extend_schema_view(
    list=extend_schema(
        operation_id="products_list",
        summary="List products",
        description="The merchant's products, ordered by SKU, paginated. Scope: `catalog:read`.",
    ),
    create=extend_schema(
        operation_id="products_create",
        summary="Create a product",
        description="Create one product; the SKU must be new for this merchant. Scope: `catalog:write`.",
        request=ProductInputSerializer,
        responses={201: ProductOutputSerializer},
        examples=[
            OpenApiExample("A tee-shirt", value=PRODUCT_EXAMPLE, request_only=True),
            OpenApiExample("Created", value=PRODUCT_OUTPUT_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    ),
    retrieve=extend_schema(
        operation_id="products_retrieve",
        summary="Get a product",
        description="One product by SKU. Another merchant's SKU answers 404, like a missing one. "
        "Scope: `catalog:read`.",
        parameters=[SKU_PARAMETER],
    ),
    update=extend_schema(
        operation_id="products_update",
        summary="Replace a product",
        description="Replace a product's fields: optional fields left out take their default (no category, blank "
        "brand, no price, active). The SKU is not changed (ignored if sent). Scope: `catalog:write`.",
        parameters=[SKU_PARAMETER],
        request=ProductInputSerializer,
        responses={200: ProductOutputSerializer},
    ),
    partial_update=extend_schema(
        operation_id="products_partial_update",
        summary="Change some fields of a product",
        description="Change only the fields sent. Scope: `catalog:write`.",
        parameters=[SKU_PARAMETER],
        request=ProductInputSerializer,
        responses={200: ProductOutputSerializer},
        examples=[OpenApiExample("New price", value={"price": "24.90"})],
    ),
)
class ProductViewSet(
    TenantAPIMixin,
    TenantWriteViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Products of the key's merchant. No ``DELETE`` (405): sales lines point at products; set
    ``active: false`` instead."""

    lookup_field = "sku"
    lookup_value_regex = SKU_LOOKUP_REGEX
    serializer_class = ProductOutputSerializer
    filterset_class = ProductFilter
    required_scopes = {
        "list": [ApiScope.CATALOG_READ],
        "retrieve": [ApiScope.CATALOG_READ],
        "create": [ApiScope.CATALOG_WRITE],
        "update": [ApiScope.CATALOG_WRITE],
        "partial_update": [ApiScope.CATALOG_WRITE],
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Product.objects.none()  # schema generation: no key, no tenant
        return self.tenant.scope(Product).select_related("category").order_by("sku")

    def get_object(self) -> Product:
        # List filters don't apply to one product.
        return get_object_or_404(self.get_queryset(), sku=self.kwargs["sku"])

    def create(self, request, *args, **kwargs):
        serializer = ProductInputSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        product = product_create(
            merchant=self.merchant, actor=request.user, request=request, **serializer.validated_data
        )
        location = reverse("api:product-detail", kwargs={"sku": product.sku}, request=request)
        return Response(
            ProductOutputSerializer(product).data, status=status.HTTP_201_CREATED, headers={"Location": location}
        )

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        product = self.get_object()
        serializer = ProductInputSerializer(
            product, data=request.data, partial=partial, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        product = product_update(product=product, actor=request.user, request=request, **serializer.validated_data)
        return Response(ProductOutputSerializer(product).data)


@extend_validation_errors(["invalid_sku", "duplicate"], field_name="products.INDEX.sku", methods=["post"])
class ProductBulkUpsertView(TenantAPIMixin, APIView):
    """``POST /api/v1/products/bulk/``: create or update up to 1,000 products by SKU, all or nothing."""

    required_scopes = {"POST": [ApiScope.CATALOG_WRITE]}

    @extend_schema(
        operation_id="products_bulk_upsert",
        tags=["products"],
        summary=f"Create or update up to {BULK_MAX_PRODUCTS:,} products",
        description=(
            f"Upsert 1 to {BULK_MAX_PRODUCTS:,} products by SKU in one request. The request is validated as a "
            "whole and applied all or nothing: if any item is invalid nothing is written and every error is "
            "reported with the item's index (`attr` like `products.12.price`). Only the fields sent are written: "
            "a field left out keeps its current value on an existing product; a new SKU needs a `name`. Unknown "
            "category names create the category. Sending a placeholder product clears its placeholder flag. "
            "More than 1,000 items answers 400 (`attr`: `products.non_field_errors`, `code`: `max_length`). "
            "Scope: `catalog:write`."
        ),
        request=ProductBulkSerializer,
        responses={200: ProductBulkResultSerializer},
        examples=[
            OpenApiExample(
                "Two products",
                request_only=True,
                value={
                    "products": [
                        PRODUCT_EXAMPLE,
                        {"sku": "MUG-01", "name": "Mug", "category": "Home", "price": "12.00"},
                    ]
                },
            ),
            OpenApiExample("Counts", response_only=True, value={"created": 1, "updated": 1, "unchanged": 0}),
        ],
    )
    def post(self, request, *args, **kwargs):
        serializer = ProductBulkSerializer(data=request.data, context={"tenant": self.tenant, "request": request})
        serializer.is_valid(raise_exception=True)
        result = products_upsert(
            merchant=self.merchant, rows=serializer.validated_data["products"], actor=request.user, request=request
        )
        return Response(ProductBulkResultSerializer(result.as_dict()).data)


@extend_schema(tags=["categories"])
@extend_schema_view(
    list=extend_schema(
        operation_id="categories_list",
        summary="List categories",
        description="The merchant's product categories, ordered by name, with their product counts. Categories "
        "are created by naming them on a product. Scope: `catalog:read`.",
    ),
)
class CategoryViewSet(TenantAPIMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = CategorySerializer
    required_scopes = {"list": [ApiScope.CATALOG_READ]}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Category.objects.none()  # schema generation: no key, no tenant
        return (
            self.tenant.scope(Category)
            .select_related("parent")
            .annotate(product_count=Count("products"))
            .order_by("name", "pk")
        )
