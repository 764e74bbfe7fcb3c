"""Customer identity: normalisation, hashing, hints, resolution across channels, merges."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import pytest
from django.conf import settings

from sales.ingest import identity
from sales.ingest.identity import IdentityHasher, identifier_normalise
from sales.ingest.service import orders_ingest
from sales.ingest.types import IdentifierInput
from sales.models import Customer, CustomerIdentifier, CustomerMerge, Order

from ..factories import StoreFactory
from .ingest_builders import email, offline, order, phone

pytestmark = pytest.mark.django_db


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def expected_hash(merchant_id: int, kind: str, normalised: str) -> str:
    key = hmac.new(settings.IDENTITY_HASH_KEY.encode(), f"merchant:{merchant_id}".encode(), hashlib.sha256).digest()
    return hmac.new(key, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()


def customer_of(merchant, external_id: str, source: str = "api") -> Customer | None:
    return Order.objects.for_merchant(merchant).get(source=source, external_id=external_id).customer


@pytest.fixture(params=["postgres", "orm"])
def write_path(request, monkeypatch):
    if request.param == "orm":
        monkeypatch.setattr(identity, "use_postgres", lambda: False)
    return request.param


# --- normalisation, hashing, hints ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "raw", "region", "expected"),
    [
        ("email", "  Ana.Lima@Example.COM ", None, ("ana.lima@example.com", "a***@example.com")),
        ("email", "not-an-email", None, None),
        ("email", "@example.com", None, None),
        ("email", "ana@", None, None),
        ("email", "ana lima@example.com", None, None),
        ("email", "   ", None, None),
        ("phone", "06 12 34 56 78", "FR", ("+33612345678", "+33 ••• 78")),
        ("phone", "0033 6 12 34 56 78", "FR", ("+33612345678", "+33 ••• 78")),
        ("phone", "(212) 736-5000", "US", ("+12127365000", "+1 ••• 00")),
        ("phone", "+44 20 7183 8750", None, ("+442071838750", "+44 ••• 50")),
        ("phone", "+33 6 12 34 56 78", "US", ("+33612345678", "+33 ••• 78")),
        ("phone", "06 12 34 56 78", None, None),  # national number, no region to read it with
        ("phone", "12", "FR", None),  # parses, but is not a valid number
        ("phone", "call me", "FR", None),
        ("loyalty", "  LOY-0042 ", None, ("LOY-0042", "•••0042")),
        ("pos_customer", "C7", None, ("C7", "•••")),
        ("account", "  ", None, None),
    ],
)
def test_identifiers_are_normalised_with_a_masked_hint(kind, raw, region, expected):
    assert identifier_normalise(kind, raw, region=region) == expected


def test_the_hash_is_an_hmac_with_the_merchants_derived_key(merchant, other_merchant):
    # Given the same e-mail at two merchants
    ours = IdentityHasher(merchant.pk).identity("email", " Ana@Example.com", None)
    theirs = IdentityHasher(other_merchant.pk).identity("email", "ana@example.com", None)

    # Then each is HMAC-SHA256("email:ana@example.com") keyed by HMAC-SHA256(IDENTITY_HASH_KEY, "merchant:<pk>")
    assert ours.value_hash == expected_hash(merchant.pk, "email", "ana@example.com")
    assert theirs.value_hash == expected_hash(other_merchant.pk, "email", "ana@example.com")
    assert ours.value_hash != theirs.value_hash
    assert (ours.kind, ours.hint) == ("email", "a***@example.com")


def test_only_the_hash_and_the_hint_are_stored(merchant):
    orders_ingest(merchant=merchant, orders=[order("1", identifiers=[email("Ana@Example.com")])])

    assert list(CustomerIdentifier.objects.values_list("kind", "value_hash", "hint")) == [
        ("email", expected_hash(merchant.pk, "email", "ana@example.com"), "a***@example.com")
    ]


def test_a_phone_is_read_in_the_stores_country_then_the_merchants_main_country(merchant):
    # Given a merchant with two French stores and one in New York
    StoreFactory(merchant=merchant, code="PAR-01", country="FR")
    StoreFactory(merchant=merchant, code="LYO-01", country="FR")
    StoreFactory(merchant=merchant, code="NYC-01", country="US", timezone="America/New_York")

    # When a New York sale and an online order carry national phone numbers
    orders_ingest(
        merchant=merchant,
        orders=[
            offline("S-1", store="NYC-01", identifiers=[phone("(212) 736-5000")]),
            order("W-1", identifiers=[phone("06 12 34 56 78")]),
        ],
    )

    # Then the store sale's is American, the online one French (most of the merchant's stores)
    assert set(CustomerIdentifier.objects.values_list("value_hash", flat=True)) == {
        expected_hash(merchant.pk, "phone", "+12127365000"),
        expected_hash(merchant.pk, "phone", "+33612345678"),
    }


def test_a_national_phone_without_any_country_to_read_it_identifies_nobody(merchant):
    [outcome] = orders_ingest(merchant=merchant, orders=[order("W-1", identifiers=[phone("06 12 34 56 78")])])

    assert (outcome.result, outcome.errors) == ("created", [])
    assert customer_of(merchant, "W-1") is None
    assert Customer.objects.count() == 0


# --- resolution -------------------------------------------------------------------------------


def test_an_order_without_identifiers_is_anonymous(merchant, write_path):
    orders_ingest(merchant=merchant, orders=[order("A-1"), order("A-2", identifiers=[phone("not a phone")])])

    assert customer_of(merchant, "A-1") is None
    assert customer_of(merchant, "A-2") is None
    assert Customer.objects.count() == 0


def test_the_same_email_online_and_in_store_is_one_customer(merchant, write_path):
    # Given a shopper who buys online, then in store a week earlier (sent later), e-mail in another case
    StoreFactory(merchant=merchant, code="PAR-01")
    orders_ingest(
        merchant=merchant,
        orders=[
            order(
                "W-1",
                identifiers=[email("ana@example.com")],
                customer_name="Ana Lima",
                customer_email="ana@example.com",
            )
        ],
    )
    orders_ingest(
        merchant=merchant,
        orders=[offline("S-1", placed_at=at("2024-05-07T15:00:00+00:00"), identifiers=[email(" ANA@example.com ")])],
    )

    # Then both orders are one customer's, whose first order is the earlier one
    customer = customer_of(merchant, "W-1")
    assert customer_of(merchant, "S-1") == customer
    assert (customer.display_name, customer.email, customer.first_order_at, customer.merged_into_id) == (
        "Ana Lima",
        "ana@example.com",
        at("2024-05-07T15:00:00+00:00"),
        None,
    )
    assert Customer.objects.count() == 1


def test_orders_of_one_batch_sharing_a_phone_are_one_customer(merchant, write_path):
    orders_ingest(
        merchant=merchant,
        orders=[
            order("B-1", identifiers=[email("ana@example.com"), phone("+33 6 12 34 56 78")]),
            order("B-2", identifiers=[email("ana.work@example.com")]),
            order("B-3", identifiers=[phone("+33612345678"), IdentifierInput("loyalty", "LOY-1")]),
            order("B-4", identifiers=[email("bob@example.com")]),
        ],
    )

    ana = customer_of(merchant, "B-1")
    assert customer_of(merchant, "B-3") == ana
    assert customer_of(merchant, "B-2") not in {ana, None}
    assert customer_of(merchant, "B-4") not in {ana, None}
    assert sorted(ana.identifiers.values_list("kind", flat=True)) == ["email", "loyalty", "phone"]
    assert Customer.objects.count() == 3
    assert CustomerMerge.objects.count() == 0


def test_an_order_linking_two_customers_merges_them_into_the_oldest(merchant, write_path):
    # Given a customer known by phone (in store, first) and another by e-mail (online, later)
    StoreFactory(merchant=merchant, code="PAR-01")
    orders_ingest(
        merchant=merchant,
        orders=[offline("S-1", placed_at=at("2024-03-01T10:00:00+00:00"), identifiers=[phone("+33612345678")])],
    )
    orders_ingest(
        merchant=merchant,
        orders=[order("W-1", identifiers=[email("ana@example.com")], customer_name="Ana Lima")],
    )
    older, newer = customer_of(merchant, "S-1"), customer_of(merchant, "W-1")

    # When an order carries both
    orders_ingest(
        merchant=merchant,
        orders=[order("W-2", identifiers=[email("ana@example.com"), phone("06 12 34 56 78")], ref="row 7")],
    )

    # Then the newer customer is merged into the older one: orders and identifiers move, the merge is recorded
    newer.refresh_from_db()
    older.refresh_from_db()
    assert newer.merged_into_id == older.pk
    assert older.merged_into_id is None
    assert {customer_of(merchant, external_id) for external_id in ("S-1", "W-1", "W-2")} == {older}
    assert set(CustomerIdentifier.objects.values_list("customer_id", flat=True)) == {older.pk}
    assert (older.display_name, older.first_order_at) == ("Ana Lima", at("2024-03-01T10:00:00+00:00"))
    merge = CustomerMerge.objects.get()
    assert (merge.merchant_id, merge.survivor_id, merge.merged_id) == (merchant.pk, older.pk, newer.pk)
    assert merge.reason == {"identifiers": ["email", "phone"], "source": "api", "external_id": "W-2"}


def test_merges_are_flattened_so_merged_into_always_names_the_survivor(merchant, write_path):
    # Given three customers, oldest first: X, Y, Z
    for external_id, address in (("1", "x@example.com"), ("2", "y@example.com"), ("3", "z@example.com")):
        orders_ingest(merchant=merchant, orders=[order(external_id, identifiers=[email(address)])])
    x, y, z = (customer_of(merchant, external_id) for external_id in ("1", "2", "3"))

    # When an order links Y and Z (Z merges into Y), then another links X and Z's e-mail (Y merges into X)
    orders_ingest(merchant=merchant, orders=[order("4", identifiers=[email("y@example.com"), email("z@example.com")])])
    orders_ingest(merchant=merchant, orders=[order("5", identifiers=[email("x@example.com"), email("z@example.com")])])

    # Then Y and Z both point at X, and every order is X's
    assert dict(Customer.objects.values_list("id", "merged_into_id")) == {x.pk: None, y.pk: x.pk, z.pk: x.pk}
    assert {customer_of(merchant, external_id) for external_id in "12345"} == {x}
    assert list(CustomerMerge.objects.order_by("id").values_list("survivor_id", "merged_id")) == [
        (y.pk, z.pk),
        (x.pk, y.pk),
    ]


def test_one_order_may_merge_three_customers_at_once(merchant, write_path):
    for external_id, identifier in (
        ("1", email("a@example.com")),
        ("2", phone("+33612345678")),
        ("3", email("c@x.fr")),
    ):
        orders_ingest(merchant=merchant, orders=[order(external_id, identifiers=[identifier])])
    a, b, c = (customer_of(merchant, external_id) for external_id in "123")

    orders_ingest(
        merchant=merchant,
        orders=[order("4", identifiers=[email("c@x.fr"), phone("+33 6 12 34 56 78"), email("a@example.com")])],
    )

    assert dict(Customer.objects.values_list("id", "merged_into_id")) == {a.pk: None, b.pk: a.pk, c.pk: a.pk}
    assert set(CustomerMerge.objects.values_list("survivor_id", "merged_id")) == {(a.pk, b.pk), (a.pk, c.pk)}
    assert {customer_of(merchant, external_id) for external_id in "1234"} == {a}


def test_first_order_at_is_the_earliest_order_ever_resolved_to_the_customer(merchant):
    orders_ingest(
        merchant=merchant, orders=[order("1", placed_at=at("2024-05-10T10:00:00+00:00"), identifiers=[email("a@x.fr")])]
    )
    orders_ingest(
        merchant=merchant, orders=[order("2", placed_at=at("2024-05-20T10:00:00+00:00"), identifiers=[email("a@x.fr")])]
    )
    assert Customer.objects.get().first_order_at == at("2024-05-10T10:00:00+00:00")

    orders_ingest(
        merchant=merchant, orders=[order("3", placed_at=at("2024-04-01T10:00:00+00:00"), identifiers=[email("a@x.fr")])]
    )

    assert Customer.objects.get().first_order_at == at("2024-04-01T10:00:00+00:00")


def test_an_order_resent_with_other_identifiers_is_resolved_again(merchant, write_path):
    orders_ingest(merchant=merchant, orders=[order("R-1", identifiers=[email("ana@example.com")])])
    ana = customer_of(merchant, "R-1")

    [changed] = orders_ingest(merchant=merchant, orders=[order("R-1", identifiers=[email("bob@example.com")])])
    bob = customer_of(merchant, "R-1")
    [removed] = orders_ingest(merchant=merchant, orders=[order("R-1")])

    assert (changed.result, removed.result) == ("updated", "updated")
    assert bob not in {ana, None}
    assert customer_of(merchant, "R-1") is None


def test_customers_never_cross_merchants(merchant, other_merchant):
    orders_ingest(merchant=merchant, orders=[order("1", identifiers=[email("ana@example.com")])])
    orders_ingest(merchant=other_merchant, orders=[order("1", identifiers=[email("ana@example.com")])])

    ours, theirs = customer_of(merchant, "1"), customer_of(other_merchant, "1")
    assert (ours.merchant_id, theirs.merchant_id) == (merchant.pk, other_merchant.pk)
    assert CustomerIdentifier.objects.count() == 2
    assert CustomerMerge.objects.count() == 0
