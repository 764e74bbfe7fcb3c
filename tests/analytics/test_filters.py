"""filters_from_params: query strings and stored report params into ``Filters``, with errors naming the field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from unittest import mock

import pytest
from django.http import QueryDict

from analytics.filters import Compare, FilterError, Filters, Preset, filters_from_params
from merchants.models import Role
from merchants.tenancy import Tenant
from tests.factories import CategoryFactory, StoreFactory

pytestmark = pytest.mark.django_db

TODAY = date(2024, 5, 15)


@pytest.fixture
def shop(merchant):
    stores = {
        "PAR-01": StoreFactory(merchant=merchant, code="PAR-01", region="Île-de-France"),
        "PAR-02": StoreFactory(merchant=merchant, code="PAR-02", region="Île-de-France"),
        "LYO-01": StoreFactory(merchant=merchant, code="LYO-01", region="Auvergne-Rhône-Alpes"),
    }
    category = CategoryFactory(merchant=merchant, name="Shoes")
    return merchant, stores, category


def owner(merchant) -> Tenant:
    return Tenant(merchant=merchant, role=Role.OWNER)


def test_defaults_are_the_last_30_days_compared_with_the_previous_30(shop):
    merchant, _, _ = shop

    filters = filters_from_params(owner(merchant), QueryDict(""), today=TODAY)

    assert filters == Filters(
        merchant_id=merchant.pk,
        date_from=date(2024, 4, 16),
        date_to=TODAY,
        compare=Compare.PREVIOUS,
        preset=Preset.LAST_30,
    )


def test_today_is_the_merchants_today(shop):
    merchant, _, _ = shop  # Europe/Paris: 23:30 UTC on May 15 is already May 16 there
    with mock.patch("django.utils.timezone.now", return_value=datetime(2024, 5, 15, 23, 30, tzinfo=UTC)):
        filters = filters_from_params(owner(merchant), {"preset": "today"})

    assert (filters.date_from, filters.date_to) == (date(2024, 5, 16), date(2024, 5, 16))


def test_a_query_string_with_every_filter(shop):
    merchant, stores, category = shop
    params = QueryDict(
        "from=2024-03-01&to=2024-03-31&channel=offline&store=par-01&store=LYO-01&category=shoes&compare=last_year"
    )

    filters = filters_from_params(owner(merchant), params, today=TODAY)

    assert filters == Filters(
        merchant_id=merchant.pk,
        date_from=date(2024, 3, 1),
        date_to=date(2024, 3, 31),
        channel="offline",
        store_ids=frozenset({stores["PAR-01"].pk, stores["LYO-01"].pk}),
        category_id=category.pk,
        compare=Compare.LAST_YEAR,
        preset=Preset.CUSTOM,
    )


def test_a_reports_stored_params_dict(shop):
    merchant, stores, _ = shop

    filters = filters_from_params(
        owner(merchant), {"preset": "mtd", "store": ["PAR-02"], "channel": "all", "compare": "none"}, today=TODAY
    )

    assert (filters.date_from, filters.date_to, filters.preset) == (date(2024, 5, 1), TODAY, Preset.MONTH_TO_DATE)
    assert (filters.channel, filters.store_ids, filters.compare) == (None, frozenset({stores["PAR-02"].pk}), "none")


def test_region_and_comma_separated_stores(shop):
    merchant, stores, _ = shop

    by_region = filters_from_params(owner(merchant), {"region": "île-de-france"}, today=TODAY)
    both = filters_from_params(owner(merchant), {"region": "Île-de-France", "store": "PAR-01,LYO-01"}, today=TODAY)

    assert by_region.store_ids == frozenset({stores["PAR-01"].pk, stores["PAR-02"].pk})
    assert both.store_ids == frozenset({stores["PAR-01"].pk})  # in the region and asked for


def test_a_store_manager_is_kept_to_their_stores(shop):
    merchant, stores, _ = shop
    manager = Tenant(merchant=merchant, role=Role.STORE_MANAGER, store_ids=frozenset({stores["PAR-01"].pk}))

    everything = filters_from_params(manager, {}, today=TODAY)
    asked_more = filters_from_params(manager, {"store": ["PAR-01", "LYO-01"]}, today=TODAY)
    asked_other = filters_from_params(manager, {"store": "LYO-01"}, today=TODAY)

    assert everything.store_ids == asked_more.store_ids == frozenset({stores["PAR-01"].pk})
    assert asked_other.store_ids == frozenset()  # sees nothing rather than someone else's store


@pytest.mark.parametrize(
    ("_case", "params", "errors"),
    [
        ("not_a_date", {"from": "01/03/2024", "to": "2024-03-31"},
         {"from": "“01/03/2024” is not a date: use YYYY-MM-DD (for example 2024-05-31)."}),
        ("reversed", {"from": "2024-03-31", "to": "2024-03-01"},
         {"to": "“to” (2024-03-01) is before “from” (2024-03-31)."}),
        ("half_a_range", {"to": "2024-03-01"}, {"from": "A custom range needs both “from” and “to” (YYYY-MM-DD)."}),
        ("preset_and_range", {"preset": "ytd", "from": "2024-03-01", "to": "2024-03-02"},
         {"preset": "Give either “preset” (ytd) or “from” and “to”, not both."}),
        ("custom_preset_alone", {"preset": "custom"},
         {"preset": "The “custom” preset needs “from” and “to” (YYYY-MM-DD)."}),
        ("too_long", {"from": "2019-01-01", "to": "2024-03-01"}, {"from": "The range is 1887 days; at most 1099."}),
        ("channel", {"channel": "phone"}, {"channel": "“phone” is not a channel: use online, offline or all."}),
        ("compare", {"compare": "week"}, {"compare": "“week” is not a comparison: use previous, last_year or none."}),
        ("stores", {"store": ["PAR-01", "NOPE", "zzz"]}, {"store": "Unknown store code(s): NOPE, ZZZ."}),
        ("region", {"region": "Bretagne"}, {"region": "No store is in the region “Bretagne”."}),
        ("category", {"category": "Hats"}, {"category": "Unknown category “Hats”."}),
        ("two_channels", {"channel": ["online", "offline"]}, {"channel": "Give one “channel”, not 2."}),
        ("several_at_once", {"channel": "tv", "category": "Hats"},
         {"channel": "“tv” is not a channel: use online, offline or all.", "category": "Unknown category “Hats”."}),
    ],
)  # fmt: skip
def test_bad_input_names_each_parameter(shop, _case, params, errors):
    merchant, _, _ = shop

    with pytest.raises(FilterError) as raised:
        filters_from_params(owner(merchant), params, today=TODAY)

    assert raised.value.errors == errors


def test_unknown_preset_lists_the_choices(shop):
    with pytest.raises(FilterError) as raised:
        filters_from_params(owner(shop[0]), {"preset": "forever"}, today=TODAY)

    assert raised.value.errors == {
        "preset": "“forever” is not a preset: use one of today, yesterday, last_7, last_30, last_90, mtd, qtd, ytd, "
        "last_730."
    }


def test_queries_only_for_the_parameters_given(shop, django_assert_num_queries):
    merchant, _, _ = shop
    with django_assert_num_queries(0):
        filters_from_params(owner(merchant), {"preset": "last_7", "channel": "online"}, today=TODAY)
    with django_assert_num_queries(3):
        filters_from_params(owner(merchant), {"store": "PAR-01", "region": "Île-de-France", "category": "Shoes"})


def test_another_merchants_store_and_category_are_unknown(shop, other_merchant):
    merchant, _, _ = shop

    with pytest.raises(FilterError) as raised:
        filters_from_params(owner(other_merchant), {"store": "PAR-01", "category": "Shoes"}, today=TODAY)

    assert set(raised.value.errors) == {"store", "category"}
