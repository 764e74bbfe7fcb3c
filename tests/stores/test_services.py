"""Store services: create/update/close with normalisation and validation, audit rows."""

import zoneinfo
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from merchants.models import AuditAction, AuditEvent
from stores.models import Store, StoreStatus
from stores.services import store_close, store_create, store_reopen, store_update

from ..factories import StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

ALL_CLOSED = {day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def test_store_create_normalises_and_audits(merchant):
    # Given an owner
    actor = UserFactory()

    # When a store is created with loosely written values
    store = store_create(
        merchant=merchant,
        actor=actor,
        code=" par-01 ",
        name=" Paris Marais ",
        country="fra",
        timezone="europe/paris",
        latitude="48.85661400001",
        longitude=2.3522219,
        opening_hours={"mon": ["14:00-19:00", "09:00-12:00"], "sun": []},
    )

    # Then it is stored in canonical form, with the merchant's defaults, and audited
    store.refresh_from_db()
    assert (store.code, store.name, store.country.code, store.timezone) == (
        "PAR-01",
        "Paris Marais",
        "FR",
        "Europe/Paris",
    )
    assert (store.latitude, store.longitude) == (Decimal("48.856614"), Decimal("2.352222"))
    assert store.opening_hours == {**ALL_CLOSED, "mon": ["09:00-12:00", "14:00-19:00"]}
    assert (store.status, store.closed_on) == (StoreStatus.ACTIVE, None)
    event = AuditEvent.objects.get()
    assert (event.action, event.merchant, event.actor, event.target) == (
        AuditAction.STORE_CREATED,
        merchant,
        actor,
        "PAR-01",
    )


def test_store_create_defaults_timezone_to_the_merchants(merchant):
    merchant.timezone = "America/New_York"
    store = store_create(merchant=merchant, actor=None, code="NY1", name="SoHo", country="US")
    assert store.timezone == "America/New_York"


@pytest.mark.parametrize(
    ("case", "fields", "expected"),
    [
        ("bad code", {"code": "PAR 01"}, {"code"}),
        ("unknown country", {"country": "Atlantis"}, {"country"}),
        ("unknown timezone", {"timezone": "Mars/Olympus"}, {"timezone"}),
        ("latitude out of range", {"latitude": "91", "longitude": "2"}, {"latitude"}),
        ("longitude not a number", {"latitude": "45", "longitude": "east"}, {"longitude"}),
        ("latitude without longitude", {"latitude": "45"}, {"longitude"}),
        ("overlapping hours", {"opening_hours": {"mon": ["09:00-13:00", "12:00-18:00"]}}, {"opening_hours"}),
        ("hours end before start", {"opening_hours": {"tue": ["19:00-09:00"]}}, {"opening_hours"}),
        ("unknown weekday", {"opening_hours": {"monday": ["09:00-19:00"]}}, {"opening_hours"}),
        ("hours not HH:MM", {"opening_hours": {"mon": ["9-19"]}}, {"opening_hours"}),
        ("missing name", {"name": ""}, {"name"}),
    ],
)
def test_store_create_rejects_bad_fields(merchant, case, fields, expected):
    base = {"code": "P1", "name": "Paris", "country": "FR"}
    with pytest.raises(ValidationError) as excinfo:
        store_create(merchant=merchant, actor=None, **{**base, **fields})
    assert set(excinfo.value.message_dict) == expected, case
    assert Store.objects.count() == 0


def test_store_codes_are_case_insensitive_within_a_merchant_only(merchant, other_merchant):
    StoreFactory(merchant=merchant, code="PAR-01", name="Paris")
    with pytest.raises(ValidationError) as excinfo:
        store_create(merchant=merchant, actor=None, code="par-01", name="Dup", country="FR")
    assert excinfo.value.message_dict == {"code": ["The code PAR-01 is already used by Paris."]}
    # Another merchant may use the same code
    assert (
        store_create(merchant=other_merchant, actor=None, code="par-01", name="Theirs", country="FR").code == "PAR-01"
    )


def test_store_update_writes_and_audits_only_changes(merchant):
    store = StoreFactory(merchant=merchant, code="P1", name="Paris", city="Paris")
    actor = UserFactory()

    store_update(store=store, actor=actor, name="Paris", city="Paris")  # nothing changes
    assert AuditEvent.objects.count() == 0

    store_update(store=store, actor=actor, name="Paris Nord", opening_hours={"sat": ["10:00-18:00"]})
    store.refresh_from_db()
    assert store.name == "Paris Nord"
    assert store.opening_hours == {**ALL_CLOSED, "sat": ["10:00-18:00"]}
    event = AuditEvent.objects.get()
    assert event.action == AuditAction.STORE_UPDATED
    assert event.data == {
        "changed": {
            "name": ["Paris", "Paris Nord"],
            "opening_hours": [{"mon": ["09:00-19:00"], "sat": ["10:00-18:00"]}, {**ALL_CLOSED, "sat": ["10:00-18:00"]}],
        }
    }


def test_store_close_sets_status_and_local_day_and_is_idempotent(merchant):
    store = StoreFactory(merchant=merchant, timezone="Pacific/Kiritimati", opened_on=date(2020, 1, 1))
    actor = UserFactory()

    store_close(store=store, actor=actor)
    store_close(store=store, actor=actor)  # closing again changes nothing

    store.refresh_from_db()
    assert store.status == StoreStatus.CLOSED
    assert store.closed_on == timezone.localdate(timezone=zoneinfo.ZoneInfo("Pacific/Kiritimati"))
    assert list(AuditEvent.objects.values_list("action", flat=True)) == [AuditAction.STORE_CLOSED]


@pytest.mark.parametrize(
    ("case", "closed_on", "message"),
    [
        ("before opening", date(2019, 12, 31), "The store cannot close before it opened."),
        ("in the future", timezone.localdate() + timedelta(days=3), "The closing date cannot be in the future."),
    ],
)
def test_store_close_validates_the_day(merchant, case, closed_on, message):
    store = StoreFactory(merchant=merchant, opened_on=date(2020, 1, 1))
    with pytest.raises(ValidationError) as excinfo:
        store_close(store=store, actor=None, closed_on=closed_on)
    assert excinfo.value.message_dict == {"closed_on": [message]}, case
    store.refresh_from_db()
    assert store.status == StoreStatus.ACTIVE


def test_store_reopen_clears_the_closing_day(merchant):
    store = StoreFactory(merchant=merchant)
    store_close(store=store, actor=None, closed_on=date(2024, 5, 1))
    store_reopen(store=store, actor=None)
    store.refresh_from_db()
    assert (store.status, store.closed_on) == (StoreStatus.ACTIVE, None)


def test_api_key_actor_is_recorded_on_the_audit_row(merchant, api_client):
    from merchants.api_auth import ApiKeyPrincipal

    store_create(
        merchant=merchant, actor=ApiKeyPrincipal(api_client.api_key), code="API1", name="Via API", country="FR"
    )
    event = AuditEvent.objects.get(action=AuditAction.STORE_CREATED)
    assert (event.actor, event.api_key) == (None, api_client.api_key)
