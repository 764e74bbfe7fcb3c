"""Bodies for the orders API tests."""

from __future__ import annotations

import copy

BATCH_URL = "/api/v1/orders/batch/"
LIST_URL = "/api/v1/orders/"


def sale(sku: str = "TEE-1", quantity: str = "2", unit_price: str = "19.90", **fields) -> dict:
    return {"sku": sku, "name": f"Product {sku}", "quantity": quantity, "unit_price": unit_price, **fields}


def order(external_id: str = "ORD-1", **fields) -> dict:
    """An in-store order at PAR-01 (Europe/Paris) in EUR, with two sale lines."""
    body = {
        "external_id": external_id,
        "channel": "offline",
        "store": "PAR-01",
        "placed_at": "2024-05-04T15:42:10+02:00",
        "currency": "EUR",
        "lines": [sale("TEE-1", "2", "19.90", discount="1.00"), sale("MUG-1", "1", "12.00")],
        "tax": "8.63",
    }
    body.update(copy.deepcopy(fields))
    return body


def online_order(external_id: str = "WEB-1", **fields) -> dict:
    body = {
        "source": "shopify",
        "external_id": external_id,
        "channel": "online",
        "placed_at": "2024-05-04T21:03:00Z",
        "currency": "EUR",
        "lines": [sale("MUG-1", "3", "12.00")],
        "shipping": "4.90",
        "customer": {"email": "jo@example.com"},
    }
    body.update(copy.deepcopy(fields))
    return body


def post_batch(client, orders: list[dict], **extra):
    return client.post(BATCH_URL, {"orders": orders}, format="json", **extra)


def results_of(response) -> list[tuple[int, str | None, str, list[tuple[str, str]]]]:
    """(index, external_id, result, [(attr, code)]) per order, after checking the documented shape."""
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"results", "summary"}
    out = []
    for item in body["results"]:
        assert set(item) == {"index", "external_id", "result", "errors"}, item
        for error in item["errors"]:
            assert set(error) == {"attr", "code", "detail"}, error
        out.append(
            (item["index"], item["external_id"], item["result"], [(e["attr"], e["code"]) for e in item["errors"]])
        )
    return out
