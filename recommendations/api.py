"""The recommendations endpoints of the partner API.

- ``GET /api/v1/recommendations/?product=SKU[&store=CODE][&channel=online|offline][&customer=ID][&limit=N]``:
  what to show next to a product (``recommendations.selectors.recommend``, cached in Redis); without ``product``,
  with ``customer``: the customer's next-purchase list (``recommendations.selectors.recommend_for_customer``);
- ``GET/POST /api/v1/recommendation-rules/``, ``GET/PATCH/DELETE /api/v1/recommendation-rules/{id}/``: the
  merchant's rules, written through ``recommendations.rules``;
- ``POST /api/v1/recommendations/compute/`` (202 with the job) and ``GET /api/v1/recommendations/jobs/{id}/``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time

import django_filters
import orjson
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef
from django.http import HttpResponse, QueryDict
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Product
from core.api import TenantWriteViewSetMixin
from merchants.api_auth import (
    KEYS_GENERATION_KEY,
    ApiKeyRateThrottle,
    TenantAPIMixin,
    ThrottleWindow,
    api_key_needs_touch,
    cached_key_peek,
    hash_api_key,
    parse_rate,
    redis_client,
    throttle_allows,
    throttle_pipeline,
)
from merchants.models import ApiScope, Merchant
from sales.ingest.identity import IdentityHasher, identifier_normalise, merchant_identity_key
from sales.models import Customer, CustomerIdentifier, IdentifierKind
from stores.models import Store
from stores.validation import normalize_store_code

from .models import RecommendationJob, RecommendationRule, RecommendationRuleStore, RuleChannel, RuleKind
from .rules import rule_create, rule_delete, rule_list_ordering, rule_update
from .selectors import MAX_LIMIT, _version_key, cache_version, recommend, recommend_for_customer
from .serializers import (
    JobSerializer,
    RecommendationQuerySerializer,
    RecommendationSerializer,
    RuleInputSerializer,
    RuleSerializer,
    rule_input_values,
)
from .services import recommendation_compute_request

RULE_EXAMPLE = {
    "kind": "pin",
    "product": "TEE-ORG/M/WHITE",
    "target": "TOTE-CANVAS",
    "position": 1,
    "channel": "all",
    "stores": [],
    "starts_on": "2024-06-01",
    "ends_on": "2024-06-30",
}


ANSWER_CACHE_SECONDS = 6 * 3600  # a safety net: the version and the day in the key make stale answers unreachable


@functools.lru_cache(maxsize=4096)
def _identity_key(secret: str, merchant_id: int) -> bytes:
    # ``secret`` only keys the memo (settings.IDENTITY_HASH_KEY): an HMAC per request is not free.
    return merchant_identity_key(merchant_id)


def _answer_cache_key(merchant: Merchant, params: dict) -> str:
    """The answer's cache key: the merchant, its local day (campaign windows) and a digest of the question."""
    today = timezone.now().astimezone(merchant.tzinfo).date()
    store = normalize_store_code(params["store"]) if params.get("store") else ""
    raw = json.dumps(
        [params.get("product"), store, params.get("channel") or "", params.get("customer") or "", params["limit"]],
        ensure_ascii=False,
    )
    # Keyed with the merchant's identity secret: a customer identifier can't be guessed back from a cache key.
    secret = _identity_key(settings.IDENTITY_HASH_KEY, merchant.pk)
    digest = hashlib.blake2s(raw.encode(), digest_size=16, key=secret).hexdigest()
    return f"reco:api:{merchant.pk}:{today.isoformat()}:{digest}"


# An answer is stored as b"<cache version>:<JSON body>": rendered once, sent as is by every hit. Through the
# process's Redis client when the cache is Redis (the fast path reads it in the same round trip as the throttle),
# else as a (version, body) pair through the cache API.


def answer_cache_get(merchant_id: int, key: str) -> tuple[int, bytes | None]:
    """(the merchant's cache version, the answer stored under it or None). One round trip."""
    version_key = _version_key(merchant_id)
    client = redis_client()
    if client is not None:
        raw_version, stored = client.mget([cache.make_key(version_key), cache.make_key(key)])
        version = int(raw_version) if raw_version is not None else cache_version(merchant_id)
        if stored is not None:
            stored_version, _, body = stored.partition(b":")
            if stored_version == str(version).encode():
                return version, body
        return version, None
    found = cache.get_many([version_key, key])
    version = found.get(version_key)
    if version is None:
        version = cache_version(merchant_id)  # none yet (or evicted): creates it
    entry = found.get(key)
    return version, entry[1] if entry is not None and entry[0] == version else None


def answer_cache_set(key: str, version: int, body: bytes) -> None:
    # Stored with the version it was read under: after a bump it no longer matches, whatever it holds.
    client = redis_client()
    if client is not None:
        client.set(cache.make_key(key), b"%d:%s" % (version, body), ex=ANSWER_CACHE_SECONDS)
    else:
        cache.set(key, (version, body), timeout=ANSWER_CACHE_SECONDS)


def json_response(body: bytes) -> HttpResponse:
    response = HttpResponse(body, content_type="application/json")
    response["Allow"] = "GET, HEAD"  # what DRF adds to the view's answers
    return response


# --- the fast path ------------------------------------------------------------------------------------------------

QUERY_FIELDS = frozenset(("product", "store", "channel", "customer", "limit"))
ACCEPTS_JSON = frozenset(("*/*", "application/json", "application/*"))


def fast_params(query: QueryDict) -> dict | None:
    """The question as ``RecommendationQuerySerializer`` would validate it, or None for anything unusual (unknown
    or repeated parameters, whitespace to trim, an invalid value): the full view answers those, errors included."""
    params: dict = {}
    for name, values in query.lists():
        if name not in QUERY_FIELDS or len(values) != 1:
            return None
        value = values[0]
        if value != value.strip() or "\x00" in value or not value.isprintable():
            return None
        params[name] = value
    if not params.get("product") or params.get("channel", "online") not in ("online", "offline"):
        return None
    if len(params.get("customer", "")) > 320:
        return None
    limit = params.get("limit", "10")
    if not (limit.isascii() and limit.isdigit() and len(limit) <= 3 and 1 <= int(limit) <= MAX_LIMIT):
        return None
    params["limit"] = int(limit)
    return params


def recommendations_fast(request) -> HttpResponse | None:
    """A cache hit answered before DRF (by ``recommendations.middleware``): the key from this process's key
    cache, then ONE Redis round trip (the throttle's count, the key generation, the merchant's cache version and
    the stored answer). None whenever anything isn't a plain hit — unknown / expired / untouched-for-a-minute key,
    a missing scope, a suspended merchant, a bumped key generation, the rate exceeded, a miss, odd parameters or
    ``Accept`` — and then the DRF view answers, with exactly its checks and error format (the throttle is not
    counted twice)."""
    client = redis_client()
    if client is None or ApiKeyRateThrottle.cache is not cache or request.method != "GET":
        return None
    scheme, _, raw_key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not raw_key or not raw_key.isascii() or " " in raw_key:
        return None
    accept = request.META.get("HTTP_ACCEPT")
    if accept is not None and accept not in ACCEPTS_JSON:
        return None
    params = fast_params(request.GET)
    if params is None:
        return None
    entry = cached_key_peek(hash_api_key(raw_key))
    if entry is None:
        return None
    api_key = entry.api_key
    merchant = api_key.merchant
    if (
        not api_key.is_active
        or not merchant.is_active
        or ApiScope.RECOMMENDATIONS_READ not in entry.scopes
        or api_key_needs_touch(api_key)
    ):
        return None
    limit, duration = parse_rate(settings.API_RATE_LIMIT)
    window = ThrottleWindow.at(api_key.pk, limit, duration, time.time())
    pipe = client.pipeline(transaction=False)
    throttle_pipeline(pipe, window, cache.make_key)
    pipe.get(cache.make_key(KEYS_GENERATION_KEY))
    pipe.get(cache.make_key(_version_key(merchant.pk)))
    pipe.get(cache.make_key(_answer_cache_key(merchant, params)))
    try:
        current, _, previous, generation, version, stored = pipe.execute()
    except Exception:  # noqa: BLE001 - Redis unavailable: the full stack answers (and reports it its own way)
        return None
    request.throttle_counts = (current, previous)  # counted: the DRF view must not count it again
    if generation is None or int(generation) != entry.generation:
        return None  # a key or its merchant changed: re-read from PostgreSQL
    if not throttle_allows(window, current, previous, limit):
        return None  # DRF answers 429 (and uncounts it)
    if stored is None or version is None:
        return None
    stored_version, _, body = stored.partition(b":")
    if stored_version != version:
        return None
    return json_response(body)


def _phone_regions(merchant: Merchant, store: Store | None) -> list[str | None]:
    """Where a national phone number is read, as the ingestion does: the store's country, else the merchant's
    most common store country (ties: alphabetical)."""
    regions: list[str | None] = [store.country] if store is not None and store.country else []
    main = (
        Store.objects.for_merchant(merchant)
        .exclude(country="")
        .values("country")
        .annotate(stores=Count("pk"))
        .order_by("-stores", "country")
        .values_list("country", flat=True)
        .first()
    )
    return [*regions, main] if main not in regions else regions


def customer_by_identifier(merchant: Merchant, identifier: str, store: Store | None = None) -> Customer | None:
    """The customer an identifier names, trying it as each kind the ingestion accepts (e-mail, phone, loyalty
    number, POS id, account id), normalised and hashed exactly as ``sales.ingest.identity`` does."""
    hasher = IdentityHasher(merchant.pk)
    hashes = set()
    for kind in IdentifierKind.values:
        if kind == IdentifierKind.EMAIL and "@" not in identifier:
            continue
        regions = [None]
        if kind == IdentifierKind.PHONE:
            if not any(character.isdigit() for character in identifier) or "@" in identifier:
                continue
            regions = [None] if identifier.strip().startswith("+") else _phone_regions(merchant, store)
        for region in regions:
            normalised = identifier_normalise(kind, identifier, region=region)
            if normalised is not None:
                hashes.add(hasher.hash(kind, normalised[0]))
    if not hashes:
        return None
    found = (
        CustomerIdentifier.objects.for_merchant(merchant)
        .filter(value_hash__in=sorted(hashes))
        .select_related("customer")
        .order_by("pk")
        .first()
    )
    return found.customer if found is not None else None


@extend_schema_view(
    get=extend_schema(
        operation_id="recommendations_retrieve",
        tags=["recommendations"],
        summary="Recommendations for a product, or a customer's next purchase",
        description=(
            "What to show next to a product, in order: the merchant's pins of the most specific scope (store, then "
            "channel, then all), then the learnt suggestions by score (bought together in online and in-store "
            "baskets, bought later by the same customer), then trending and bestsellers of the store or channel to "
            "fill `limit`. Exclusions and blocks always win; the product itself, inactive, placeholder and unpriced "
            "products are never shown. Every item says why (`reason`) and from which list (`scope`). Answers are "
            "cached and refreshed at once when a rule changes or suggestions are recomputed. An unknown SKU answers "
            "404; an unknown customer is ignored.\n\n"
            "Without `product`, with `customer`: what that customer may buy next (`product` is null): the two best "
            "`bought_later` partners of every product of their last order (if within 30 days), then the best partner "
            "of every product of their other orders of the 30 days before (`reason.follows` names the products "
            "they follow), then trending and bestsellers of the store or channel. Global blocks apply (pins and "
            "exclusions are per product); what the customer already bought is left out. An unknown customer "
            "answers trending and bestsellers, and `notes` says so. This is the very list the bought-later "
            "quality figure measures. Scope: `recommendations:read`."
        ),
        parameters=[RecommendationQuerySerializer],
        responses={200: RecommendationSerializer},
        examples=[
            OpenApiExample(
                "Two items",
                response_only=True,
                value={
                    "product": "TEE-ORG/M/WHITE",
                    "computed_at": "2024-06-02T02:00:05Z",
                    "learnt_scope": "store:PAR-01",
                    "fallback": False,
                    "notes": [],
                    "results": [
                        {
                            "sku": "TOTE-CANVAS",
                            "name": "Canvas tote",
                            "price": "19.00",
                            "score": None,
                            "reason": {"kind": "pinned", "rule": 12, "rule_for": "product"},
                            "scope": "all",
                        },
                        {
                            "sku": "SOCK-3P",
                            "name": "Socks, 3 pairs",
                            "price": "12.00",
                            "score": 0.4113,
                            "reason": {
                                "kind": "bought_together",
                                "shared_baskets": 41,
                                "confidence": 0.38,
                                "lift": 6.2,
                                "baskets_offline": 30,
                                "baskets_online": 11,
                            },
                            "scope": "store:PAR-01",
                        },
                    ],
                },
            )
        ],
    )
)
class RecommendationView(TenantAPIMixin, APIView):
    """``GET /api/v1/recommendations/``."""

    required_scopes = {"GET": [ApiScope.RECOMMENDATIONS_READ]}

    def get(self, request, *args, **kwargs):
        query = RecommendationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        merchant = self.merchant
        # The whole answer is cached per merchant-local day (campaign windows) with the merchant's cache version
        # (bumped by every rule change and every new computation), rendered: a hit costs no query at all.
        key = _answer_cache_key(merchant, params)
        version, body = answer_cache_get(merchant.pk, key)
        if body is None:
            body = orjson.dumps(self._answer(merchant, params))
            answer_cache_set(key, version, body)
        return json_response(body)

    def _answer(self, merchant: Merchant, params: dict) -> dict:
        product = None
        if params.get("product"):
            product = Product.objects.for_merchant(merchant).filter(sku=params["product"]).first()
            if product is None:
                raise exceptions.NotFound(f"Unknown product SKU {params['product']}.")
        store = None
        if params.get("store"):
            code = normalize_store_code(params["store"])
            store = Store.objects.for_merchant(merchant).filter(code=code).first()
            if store is None:
                raise exceptions.ValidationError({"store": [f"Unknown store code {code}."]})
        customer = customer_by_identifier(merchant, params["customer"], store) if params.get("customer") else None
        if product is None:  # the customer's next-purchase list (an unknown customer: the fill, with a note)
            result = recommend_for_customer(
                merchant=merchant,
                customer=customer,
                store=store,
                channel=params.get("channel"),
                limit=params["limit"],
                use_cache=False,  # this answer is cached whole, above
            )
            return RecommendationSerializer(result).data
        result = recommend(
            merchant=merchant,
            product=product,
            store=store,
            channel=params.get("channel"),
            customer=customer,
            limit=params["limit"],
            use_cache=False,  # this answer is cached whole, above
        )
        return RecommendationSerializer(result).data


class RuleFilter(django_filters.FilterSet):
    product = django_filters.CharFilter(
        field_name="product__sku", help_text="Rules for this product (SKU), not its category's."
    )
    category = django_filters.CharFilter(
        field_name="category__name", lookup_expr="iexact", help_text="Rules for this category (name)."
    )
    target = django_filters.CharFilter(field_name="target__sku", help_text="Rules whose target is this SKU.")
    kind = django_filters.ChoiceFilter(choices=RuleKind.choices)
    channel = django_filters.ChoiceFilter(choices=RuleChannel.choices)
    store = django_filters.CharFilter(method="filter_store", help_text="Rules scoped to this store (code).")

    class Meta:
        model = RecommendationRule
        fields = ["product", "category", "target", "kind", "channel", "store"]

    def filter_store(self, queryset, name, value: str):
        code = normalize_store_code(value)
        links = RecommendationRuleStore.objects.filter(rule_id=OuterRef("pk"), store__code=code)
        return queryset.filter(Exists(links))


RULE_ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The rule's id.")


@extend_validation_errors(["invalid", "required"], field_name="target", actions=["create", "partial_update"])
@extend_schema(tags=["recommendation rules"])
@extend_schema_view(
    list=extend_schema(
        operation_id="recommendation_rules_list",
        summary="List recommendation rules",
        description="The merchant's rules (pins, exclusions, blocks), blocks first, then by product/category and "
        "position. Scope: `recommendations:read`.",
    ),
    create=extend_schema(
        operation_id="recommendation_rules_create",
        summary="Create a recommendation rule",
        description=(
            "A **pin** (show `target` at `position` next to `product`, or next to every product of `category`), "
            "an **exclusion** (never show `target` there) or a **block** (never recommend `target`; no product nor "
            "category). Scope: `channel` (`all`, `online`, `offline`) or `stores` (codes), and an optional window "
            "(`starts_on`..`ends_on`, the merchant's days, both included). Refused with the field as `attr`: a rule "
            "of a product on itself, the same target twice in one scope, more than 50 pins in one scope, a window "
            "that ends before it starts, an unknown SKU, category or store. Pinning an inactive or placeholder "
            "product is allowed: the answer's `warnings` say it isn't shown meanwhile. "
            "Scope: `recommendations:write`."
        ),
        request=RuleInputSerializer,
        responses={201: RuleSerializer},
        examples=[OpenApiExample("A June pin", value=RULE_EXAMPLE, request_only=True)],
    ),
    retrieve=extend_schema(
        operation_id="recommendation_rules_retrieve",
        summary="Get a recommendation rule",
        description="Another merchant's rule answers 404. Scope: `recommendations:read`.",
        parameters=[RULE_ID_PARAMETER],
    ),
    partial_update=extend_schema(
        operation_id="recommendation_rules_partial_update",
        summary="Change a recommendation rule",
        description="Change the fields sent, with the checks of creation. A new `position` moves the pin within its "
        "scope. Scope: `recommendations:write`.",
        parameters=[RULE_ID_PARAMETER],
        request=RuleInputSerializer(partial=True),
        responses={200: RuleSerializer},
        examples=[OpenApiExample("Move to first place", value={"position": 1}, request_only=True)],
    ),
    destroy=extend_schema(
        operation_id="recommendation_rules_destroy",
        summary="Delete a recommendation rule",
        description="The pins after it in its scope move up. Scope: `recommendations:write`.",
        parameters=[RULE_ID_PARAMETER],
    ),
)
class RuleViewSet(
    TenantAPIMixin,
    TenantWriteViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Rules of the key's merchant. No ``PUT``: change a rule with ``PATCH``."""

    serializer_class = RuleSerializer
    filterset_class = RuleFilter
    http_method_names = ["get", "post", "patch", "delete", "head"]
    required_scopes = {
        "list": [ApiScope.RECOMMENDATIONS_READ],
        "retrieve": [ApiScope.RECOMMENDATIONS_READ],
        "create": [ApiScope.RECOMMENDATIONS_WRITE],
        "partial_update": [ApiScope.RECOMMENDATIONS_WRITE],
        "destroy": [ApiScope.RECOMMENDATIONS_WRITE],
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return RecommendationRule.objects.none()  # schema generation: no key, no tenant
        return (
            self.tenant.scope(RecommendationRule)
            .select_related("product", "category", "target")
            .prefetch_related("stores")
            .order_by(*rule_list_ordering())
        )

    def get_object(self) -> RecommendationRule:
        # List filters don't apply to one rule.
        return self.tenant.get_object(self.get_queryset(), pk=self.kwargs["pk"])

    def _answer(self, rule: RecommendationRule, code: int = status.HTTP_200_OK) -> Response:
        rule = self.get_queryset().get(pk=rule.pk)
        data = RuleSerializer(rule, context=self.get_serializer_context()).data
        headers = {"Location": data["url"]} if code == status.HTTP_201_CREATED else None
        return Response(data, status=code, headers=headers)

    def create(self, request, *args, **kwargs):
        serializer = RuleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rule = rule_create(
            merchant=self.merchant, actor=request.user, request=request, **rule_input_values(serializer.validated_data)
        )
        return self._answer(rule, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        rule = self.get_object()
        serializer = RuleInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        rule = rule_update(
            merchant=self.merchant,
            rule=rule,
            actor=request.user,
            request=request,
            **rule_input_values(serializer.validated_data),
        )
        return self._answer(rule)

    def perform_destroy(self, instance: RecommendationRule) -> None:
        rule_delete(merchant=self.merchant, rule=instance, actor=self.request.user, request=self.request)


@extend_schema_view(
    post=extend_schema(
        operation_id="recommendations_compute",
        tags=["recommendations"],
        summary="Recompute suggestions",
        description="Start a computation of the learnt suggestions (bought together, bought later, trending) from the "
        "last 365 days of online and in-store baskets. It runs in the background: the answer (202) is the job; poll "
        "its `url` until `status` is `succeeded` or `failed`. While a computation is queued or running, the answer "
        "is that job (no second one starts). The new suggestions replace the old ones at once when it finishes. "
        "Scope: `recommendations:write`.",
        request=None,
        responses={202: JobSerializer},
    )
)
class ComputeView(TenantAPIMixin, APIView):
    """``POST /api/v1/recommendations/compute/``."""

    required_scopes = {"POST": [ApiScope.RECOMMENDATIONS_WRITE]}

    def post(self, request, *args, **kwargs):
        job = recommendation_compute_request(merchant=self.merchant, actor=request.user, request=request)
        data = JobSerializer(job, context={"request": request}).data
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


@extend_schema_view(
    get=extend_schema(
        operation_id="recommendations_job_retrieve",
        tags=["recommendations"],
        summary="Get a suggestions computation",
        description="Status and progress of one computation, with its window and counts (lines read, baskets, "
        "products with suggestions). Another merchant's job answers 404. Scope: `recommendations:read`.",
        parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The job's id.")],
        responses={200: JobSerializer},
    )
)
class JobDetailView(TenantAPIMixin, APIView):
    """``GET /api/v1/recommendations/jobs/{id}/``."""

    required_scopes = {"GET": [ApiScope.RECOMMENDATIONS_READ]}

    def get(self, request, *args, **kwargs):
        job = self.tenant.get_object(RecommendationJob, pk=kwargs["pk"])
        return Response(JobSerializer(job, context={"request": request}).data)
