"""Idempotency-Key on POST /api/v1/orders/batch/: a replay gets the first answer; nothing is processed twice."""

import threading
from unittest import mock

import pytest
from django.db import connection

from sales import idempotency
from sales.models import IdempotencyRecord, Order

from ..factories import StoreFactory
from .conftest import errors_of
from .orders_helpers import BATCH_URL, order, post_batch, results_of

pytestmark = pytest.mark.django_db

KEY = "3f1c9a6e-5b7d-4c2a-9e8f-0a1b2c3d4e5f"


@pytest.fixture
def store(merchant):
    return StoreFactory(merchant=merchant, code="PAR-01", timezone="Europe/Paris")


def count_ingests():
    from sales.ingest import service

    return mock.patch("sales.api.orders_ingest", side_effect=service.orders_ingest)


def test_a_replay_returns_the_first_answer_without_processing_again(api_client, merchant, store):
    # Given a batch sent with a key
    with count_ingests() as ingest:
        first = post_batch(api_client, [order("ORD-1"), order("BAD", currency="USD")], HTTP_IDEMPOTENCY_KEY=KEY)
        assert results_of(first) == [
            (0, "ORD-1", "created", []),
            (1, "BAD", "error", [("orders.1.currency", "currency_mismatch")]),
        ]
        assert "Idempotent-Replayed" not in first.headers

        # When it is sent again with the same key (after the order changed elsewhere)
        post_batch(api_client, [order("ORD-1", tax="0.00")])
        replay = post_batch(api_client, [order("ORD-1"), order("BAD", currency="USD")], HTTP_IDEMPOTENCY_KEY=KEY)

    # Then the first answer comes back as it was ("created", not "updated"), marked as replayed, unprocessed
    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert ingest.call_count == 2  # the first request and the keyless one in between
    assert Order.objects.get(merchant=merchant, external_id="ORD-1").tax == 0
    record = IdempotencyRecord.objects.get(merchant=merchant, key=KEY)
    assert (record.status_code, record.response) == (200, first.json())


def test_the_same_body_serialised_differently_is_the_same_request(api_client, store):
    first = api_client.post(
        BATCH_URL,
        b'{"orders": [{"external_id": "A", "channel": "offline", "store": "PAR-01", '
        b'"placed_at": "2024-05-04T15:42:10+02:00", "currency": "EUR", '
        b'"lines": [{"sku": "T", "quantity": "1", "unit_price": "1.00"}]}]}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=KEY,
    )
    replay = api_client.post(
        BATCH_URL,
        b'{ "orders":[ {"currency":"EUR","lines":[{"unit_price":"1.00","quantity":"1","sku":"T"}],'
        b'"placed_at":"2024-05-04T15:42:10+02:00","store":"PAR-01","channel":"offline","external_id":"A"} ] }',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=KEY,
    )
    assert results_of(first) == [(0, "A", "created", [])]
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"


def test_the_same_key_with_another_body_is_refused(api_client, merchant, store):
    post_batch(api_client, [order("ORD-1")], HTTP_IDEMPOTENCY_KEY=KEY)

    response = post_batch(api_client, [order("ORD-2")], HTTP_IDEMPOTENCY_KEY=KEY)

    assert response.status_code == 422
    assert errors_of(response) == [("idempotency_key_reused", None)]
    assert response.json()["type"] == "client_error"
    assert response.json()["errors"][0]["detail"].startswith(
        "This Idempotency-Key was already used for a different request"
    )
    assert not Order.objects.filter(merchant=merchant, external_id="ORD-2").exists()


def test_keys_are_per_merchant(api_client, other_api_client, merchant, other_merchant, store):
    StoreFactory(merchant=other_merchant, code="PAR-01")
    post_batch(api_client, [order("ORD-1")], HTTP_IDEMPOTENCY_KEY=KEY)

    response = post_batch(other_api_client, [order("ORD-9")], HTTP_IDEMPOTENCY_KEY=KEY)

    assert results_of(response) == [(0, "ORD-9", "created", [])]
    assert "Idempotent-Replayed" not in response.headers
    assert IdempotencyRecord.objects.filter(key=KEY).count() == 2


def test_a_refused_body_is_not_stored_so_it_can_be_fixed_and_resent(api_client, merchant, store):
    refused = api_client.post(BATCH_URL, {"orders": []}, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
    assert refused.status_code == 400

    fixed = post_batch(api_client, [order("ORD-1")], HTTP_IDEMPOTENCY_KEY=KEY)

    assert results_of(fixed) == [(0, "ORD-1", "created", [])]


@pytest.mark.parametrize(
    ("case", "key"),
    [("blank", "  "), ("too long", "k" * 256), ("not ascii", "clé-1")],
)
def test_an_unusable_key_answers_400(api_client, store, case, key):
    response = api_client.post(BATCH_URL, {"orders": [order()]}, format="json", headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert errors_of(response) == [("invalid", "Idempotency-Key")]
    assert not Order.objects.exists()


def test_a_failed_request_leaves_no_record(api_client, merchant, store):
    with (
        mock.patch("sales.api.orders_ingest", side_effect=RuntimeError("database went away")),
        pytest.raises(RuntimeError),
    ):
        post_batch(api_client, [order("ORD-1")], HTTP_IDEMPOTENCY_KEY=KEY)
    assert not IdempotencyRecord.objects.exists()

    retried = post_batch(api_client, [order("ORD-1")], HTTP_IDEMPOTENCY_KEY=KEY)
    assert results_of(retried) == [(0, "ORD-1", "created", [])]


# --- two requests with the same key at the same time (real connections) --------------------------


def _in_thread(target, results, name):
    def run():
        try:
            results[name] = target()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_process_once(make_api_client, merchant):
    # Given the first request is held inside the ingestion while a second one with the same key arrives
    StoreFactory(merchant=merchant, code="PAR-01")
    client_a = make_api_client(merchant, ["sales:write"])
    client_b = make_api_client(merchant, ["sales:write"])
    from sales.ingest import service

    entered, release = threading.Event(), threading.Event()
    calls = []

    def slow_ingest(**kwargs):
        calls.append(kwargs["orders"][0].external_id)
        entered.set()
        assert release.wait(10)
        return service.orders_ingest(**kwargs)

    results = {}
    with mock.patch("sales.api.orders_ingest", side_effect=slow_ingest):
        first = _in_thread(lambda: post_batch(client_a, [order("ORD-1")], HTTP_IDEMPOTENCY_KEY=KEY), results, "a")
        assert entered.wait(10)
        second = _in_thread(lambda: post_batch(client_b, [order("ORD-1")], HTTP_IDEMPOTENCY_KEY=KEY), results, "b")
        second.join(0.5)
        # When the second one is waiting on the key (not answered while the first runs)
        assert second.is_alive()
        release.set()
        first.join(10)
        second.join(10)

    # Then the orders were ingested once, and both got the same answer
    assert calls == ["ORD-1"]
    assert results_of(results["a"]) == [(0, "ORD-1", "created", [])]
    assert results["b"].json() == results["a"].json()
    assert results["b"].headers["Idempotent-Replayed"] == "true"
    assert Order.objects.filter(merchant=merchant).count() == 1
    assert IdempotencyRecord.objects.filter(merchant=merchant).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_request_that_waits_too_long_for_the_same_key_gets_409(make_api_client, merchant):
    StoreFactory(merchant=merchant, code="PAR-01")
    client_a = make_api_client(merchant, ["sales:write"])
    client_b = make_api_client(merchant, ["sales:write"])
    from sales.ingest import service

    entered, release = threading.Event(), threading.Event()

    def slow_ingest(**kwargs):
        entered.set()
        assert release.wait(10)
        return service.orders_ingest(**kwargs)

    results = {}
    with (
        mock.patch("sales.api.orders_ingest", side_effect=slow_ingest),
        mock.patch.object(idempotency, "WAIT_SECONDS", 0.2),
    ):
        first = _in_thread(lambda: post_batch(client_a, [order("ORD-1")], HTTP_IDEMPOTENCY_KEY=KEY), results, "a")
        assert entered.wait(10)
        results["b"] = post_batch(client_b, [order("ORD-1")], HTTP_IDEMPOTENCY_KEY=KEY)
        release.set()
        first.join(10)

    assert results["b"].status_code == 409
    assert errors_of(results["b"]) == [("idempotency_key_in_progress", None)]
    assert results_of(results["a"]) == [(0, "ORD-1", "created", [])]
    assert Order.objects.filter(merchant=merchant).count() == 1
