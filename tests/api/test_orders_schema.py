"""The batch body is validated by pydantic (``sales.schemas``) but documented by DRF serializers
(``sales.serializers``): these tests keep the two in step, and check real answers against the OpenAPI schema."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
from drf_standardized_errors.formatter import flatten_errors

from sales import schemas
from sales.api import BATCH_EXAMPLE, BATCH_RESULT_EXAMPLE
from sales.serializers import OrderBatchSerializer

from ..factories import StoreFactory
from .orders_helpers import LIST_URL, online_order, order, post_batch, sale

FULL_ORDER = {
    "source": "Shopify",
    "external_id": " #1042 ",
    "channel": "offline",
    "store": "par-01",
    "placed_at": "2024-05-04T15:42:10.123456+05:30",
    "currency": "eur",
    "status": "pending",
    "lines": [
        {"sku": "TEE/M", "name": "Tee", "quantity": "2.5", "unit_price": "19.90", "discount": "1", "kind": "sale"},
        {
            "sku": 4006381333931,
            "quantity": -1,
            "unit_price": 12,
            "kind": "return",
            "returned_at": "2024-05-06T10:00:00Z",
        },
    ],
    "refunds": [{"amount": "4.50", "refunded_at": "2024-05-07T09:00:00+02:00"}, {"amount": 1}],
    "order_discount": "0.50",
    "tax": 3.2,
    "shipping": "0",
    "customer": {
        "email": " Jo@Example.com ",
        "phone": "+33 6 12 34 56 78",
        "loyalty_number": 12345,
        "pos_customer_id": "",
        "account_id": None,
        "name": "Jo =HYPERLINK()",
    },
    "ignored": "unknown fields are ignored",
}
MISSING = object()

# (path in the order, value): every field with values either side of each rule. MISSING removes the field.
MUTATIONS: list[tuple[tuple, Any]] = [
    (("source",), MISSING),
    (("source",), "bad/source"),
    (("source",), ""),
    (("source",), "s" * 33),
    (("source",), None),
    (("external_id",), MISSING),
    (("external_id",), ""),
    (("external_id",), "   "),
    (("external_id",), "x" * 128),
    (("external_id",), "x" * 129),
    (("external_id",), "a\nb"),
    (("external_id",), 12345),
    (("external_id",), None),
    (("external_id",), True),
    (("external_id",), ["a"]),
    (("channel",), MISSING),
    (("channel",), "online"),
    (("channel",), "web"),
    (("channel",), None),
    (("store",), MISSING),
    (("store",), None),
    (("store",), ""),
    (("store",), "S" * 32),
    (("store",), "S" * 33),
    (("placed_at",), MISSING),
    (("placed_at",), "2024-05-04T15:42:10"),
    (("placed_at",), "2024-05-04T15:42:10Z"),
    (("placed_at",), "2024-05-04T15:42:10-04:00"),
    (("placed_at",), "yesterday"),
    (("placed_at",), "2024-13-01T00:00:00Z"),
    (("placed_at",), 1714830130),
    (("placed_at",), None),
    (("currency",), MISSING),
    (("currency",), "usd"),
    (("currency",), "EURO"),
    (("currency",), "E1R"),
    (("currency",), None),
    (("status",), MISSING),
    (("status",), "void"),
    (("status",), "cancelled"),
    (("lines",), MISSING),
    (("lines",), []),
    (("lines",), None),
    (("lines",), "TEE"),
    (("lines",), {"sku": "TEE"}),
    (("lines", 0), "TEE"),
    (("lines", 0, "sku"), MISSING),
    (("lines", 0, "sku"), ""),
    (("lines", 0, "sku"), "S" * 64),
    (("lines", 0, "sku"), "S" * 65),
    (("lines", 0, "sku"), "a\tb"),
    (("lines", 0, "sku"), None),
    (("lines", 0, "name"), MISSING),
    (("lines", 0, "name"), ""),
    (("lines", 0, "name"), "n" * 256),
    (("lines", 0, "name"), None),
    (("lines", 0, "quantity"), MISSING),
    (("lines", 0, "quantity"), "abc"),
    (("lines", 0, "quantity"), "1.2345"),
    (("lines", 0, "quantity"), "1.234"),
    (("lines", 0, "quantity"), "1234567890"),
    (("lines", 0, "quantity"), "-3"),
    (("lines", 0, "quantity"), 2.5),
    (("lines", 0, "quantity"), None),
    (("lines", 0, "quantity"), True),
    (("lines", 0, "quantity"), "NaN"),
    (("lines", 1, "unit_price"), "-0.01"),
    (("lines", 1, "unit_price"), "0"),
    (("lines", 1, "unit_price"), "1.001"),
    (("lines", 1, "unit_price"), "9999999999.99"),
    (("lines", 1, "unit_price"), "10000000000"),
    (("lines", 1, "unit_price"), "12,50"),
    (("lines", 1, "unit_price"), MISSING),
    # shapes outside the fast path of sales.schemas._fast_decimal: the exact Decimal rules decide
    (("lines", 1, "unit_price"), ".5"),
    (("lines", 1, "unit_price"), "1e2"),
    (("lines", 1, "unit_price"), " 7 "),
    (("lines", 1, "unit_price"), "+1"),
    (("lines", 1, "unit_price"), "1."),
    (("lines", 1, "unit_price"), 1e-7),
    (("lines", 0, "quantity"), "-0.5"),
    (("lines", 0, "quantity"), "1e-4"),
    (("lines", 1, "discount"), None),
    (("lines", 1, "discount"), "-1"),
    (("refunds",), MISSING),
    (("refunds",), []),
    (("refunds",), None),
    (("refunds",), {"amount": "1"}),
    (("refunds",), [{"amount": "1"}] * 101),
    (("refunds", 0), "4.50"),
    (("refunds", 0, "amount"), MISSING),
    (("refunds", 0, "amount"), None),
    (("refunds", 0, "amount"), "-1"),
    (("refunds", 0, "amount"), "1.001"),
    (("refunds", 0, "amount"), "abc"),
    (("refunds", 0, "refunded_at"), None),
    (("refunds", 0, "refunded_at"), "2024-05-07T09:00:00"),
    (("refunds", 0, "refunded_at"), "yesterday"),
    (("lines", 1, "kind"), "gift"),
    (("lines", 1, "kind"), MISSING),
    (("lines", 1, "returned_at"), "2024-05-06T10:00:00"),
    (("lines", 1, "returned_at"), None),
    (("lines", 1, "returned_at"), "soon"),
    (("order_discount",), "-1"),
    (("order_discount",), "x"),
    (("tax",), MISSING),
    (("tax",), None),
    (("shipping",), "0.001"),
    (("customer",), MISSING),
    (("customer",), None),
    (("customer",), {}),
    (("customer",), "jo@example.com"),
    (("customer", "email"), "nope"),
    (("customer", "email"), "a\x01b@example.com"),
    (("customer", "email"), ""),
    (("customer", "email"), "e" * 245 + "@example.c"),
    (("customer", "email"), "e" * 246 + "@example.c"),
    (("customer", "phone"), "1" * 33),
    (("customer", "phone"), 33612345678),
    (("customer", "loyalty_number"), "L" * 129),
    (("customer", "pos_customer_id"), "a\nb"),
    (("customer", "name"), "n" * 201),
    (("customer", "name"), "tab\tin name"),
]


def mutated(path: tuple, value: Any) -> dict:
    body = copy.deepcopy(FULL_ORDER)
    target = body
    for part in path[:-1]:
        target = target[part]
    if value is MISSING:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return body


def pydantic_errors(item: Any) -> set[tuple[str, str]]:
    try:
        schemas.ORDER_ADAPTER.validate_python(item)
    except schemas.ValidationError as exc:
        return {(error.attr, error.code) for error in schemas._errors_from_pydantic(0, exc)}
    return set()


def drf_errors(item: Any) -> set[tuple[str, str]]:
    serializer = OrderBatchSerializer(data={"orders": [item]})
    if serializer.is_valid():
        return set()
    return {(error.attr, error.code) for error in flatten_errors(serializer.errors)}


def _case_id(case) -> str:
    path, value = case
    shown = "MISSING" if value is MISSING else repr(value)
    return ".".join(map(str, path)) + "=" + (shown if len(shown) < 24 else shown[:21] + "...")


def test_the_full_example_is_valid_for_both():
    assert pydantic_errors(FULL_ORDER) == set()
    assert drf_errors(FULL_ORDER) == set()


@pytest.mark.parametrize("case", MUTATIONS, ids=[_case_id(case) for case in MUTATIONS])
def test_pydantic_and_the_documented_serializer_agree(case):
    # Given one field changed (or removed)
    item = mutated(*case)

    # Then both validators accept it, or both refuse it on the same field with the same code
    assert pydantic_errors(item) == drf_errors(item)


def test_every_code_given_is_documented():
    from sales.serializers import BATCH_ERROR_CODES

    codes = {code for case in MUTATIONS for _, code in pydantic_errors(mutated(*case))}
    assert codes <= set(BATCH_ERROR_CODES)
    assert {"naive_datetime", "max_decimal_places", "invalid_choice", "null", "blank", "required"} <= codes


@pytest.mark.parametrize("item", [None, "order", 12, ["a"]], ids=repr)
def test_an_item_that_is_not_an_object(item):
    assert pydantic_errors(item) == drf_errors(item)


def test_both_read_the_same_values():
    # pydantic normalises (strip, fold case) like the serializer and the ingestion service
    validated = schemas._order_input(0, schemas.ORDER_ADAPTER.validate_python(FULL_ORDER))
    serializer = OrderBatchSerializer(data={"orders": [FULL_ORDER]})
    assert serializer.is_valid()
    documented = serializer.validated_data["orders"][0]
    assert (validated.external_id, documented["external_id"]) == ("#1042", "#1042")
    assert (validated.source, validated.currency) == ("shopify", "EUR")
    assert [line.quantity for line in validated.lines[:2]] == [line["quantity"] for line in documented["lines"]]
    assert [line.unit_price for line in validated.lines[:2]] == [line["unit_price"] for line in documented["lines"]]
    assert validated.placed_at == documented["placed_at"]
    assert validated.lines[1].occurred_at == documented["lines"][1]["returned_at"]
    assert (validated.tax, validated.order_discount) == (documented["tax"], documented["order_discount"])
    refunds = [(line.amount, line.occurred_at) for line in validated.lines[2:]]
    assert refunds == [(refund["amount"], refund["refunded_at"]) for refund in documented["refunds"]]


# --- answers against the OpenAPI schema ------------------------------------------------------------


@pytest.fixture(scope="module")
def openapi(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        return Client().get("/api/schema/?format=json").json()


def json_schema(openapi: dict, name: str) -> dict:
    """An OpenAPI 3.0 component as a JSON Schema (refs inlined, ``nullable`` as a null type)."""
    components = openapi["components"]["schemas"]

    def convert(node):
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return convert(components[node["$ref"].rsplit("/", 1)[1]])
        out = {key: convert(value) for key, value in node.items() if key not in {"nullable", "readOnly", "format"}}
        if node.get("nullable"):
            return {"anyOf": [out, {"type": "null"}]}
        return out

    return convert(components[name])


def assert_conforms(openapi: dict, name: str, instance: Any) -> None:
    jsonschema.validate(instance, json_schema(openapi, name), cls=jsonschema.Draft7Validator)


def test_the_batch_documents_its_header_and_every_error_answer(openapi):
    operation = openapi["paths"]["/api/v1/orders/batch/"]["post"]
    assert [(p["name"], p["in"], p.get("required", False)) for p in operation["parameters"]] == [
        ("Idempotency-Key", "header", False)
    ]
    assert set(operation["responses"]) == {
        "200",
        "400",
        "401",
        "403",
        "404",
        "405",
        "406",
        "409",
        "415",
        "422",
        "429",
        "500",
    }
    components = openapi["components"]["schemas"]
    # a 400 is about the body as a whole: per-order errors are in the 200 answer, not here
    assert set(components["OrdersBatchError"]["discriminator"]["mapping"]) == {
        "non_field_errors",
        "orders",
        "orders.non_field_errors",
        "Idempotency-Key",
    }
    assert components["IdempotencyReusedErrorCodeEnum"]["enum"] == ["idempotency_key_reused"]
    assert components["IdempotencyInProgressErrorCodeEnum"]["enum"] == ["idempotency_key_in_progress"]
    item_error = components["OrderBatchItemError"]
    assert set(item_error["required"]) == {"attr", "code", "detail"}
    assert "unknown_store" in components["OrderBatchItemErrorCodeEnum"]["enum"]
    assert components["OrderBatchOrderRequest"]["properties"]["lines"]["minItems"] == 1
    assert components["OrderBatchRequest"]["properties"]["orders"]["maxItems"] == 1000


def test_the_documented_examples_conform(openapi):
    assert_conforms(openapi, "OrderBatchRequest", BATCH_EXAMPLE)
    assert_conforms(openapi, "OrderBatchResult", BATCH_RESULT_EXAMPLE)
    for item in BATCH_EXAMPLE["orders"]:
        assert pydantic_errors(item) == drf_errors(item) == set()


def test_the_schema_refuses_what_the_api_refuses(openapi):
    schema = json_schema(openapi, "OrderBatchOrderRequest")
    for path, value in [(("placed_at",), 1714830130), (("lines",), []), (("channel",), "web"), (("sku",), None)]:
        item = mutated(path, value)
        assert not jsonschema.Draft7Validator(schema).is_valid(item), path


@pytest.mark.django_db
def test_real_answers_conform_to_the_schema(openapi, api_client, merchant):
    StoreFactory(merchant=merchant, code="PAR-01")
    batch = post_batch(api_client, [order("A"), online_order("B"), order("C", lines=[sale(quantity="x")]), "?"])
    assert batch.status_code == 200
    assert_conforms(openapi, "OrderBatchResult", batch.json())
    listing = api_client.get(LIST_URL)
    assert_conforms(openapi, "PaginatedOrderOutputList", listing.json())
    detail = api_client.get("/api/v1/orders/shopify/B/")
    assert_conforms(openapi, "OrderOutput", detail.json())
    too_many = post_batch(api_client, [order(str(n)) for n in range(1001)])
    assert_conforms(openapi, "OrdersBatchErrorResponse400", too_many.json())
