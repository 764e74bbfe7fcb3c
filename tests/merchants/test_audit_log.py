import pytest

from merchants.models import AuditAction, AuditEvent
from merchants.services import audit_record

from .conftest import page_url

pytestmark = pytest.mark.django_db


def test_owner_sees_only_their_merchants_events(owner_client, merchant, other_merchant):
    audit_record(action=AuditAction.STORE_CREATED, merchant=merchant, actor=owner_client.user, target="P01")
    audit_record(action=AuditAction.STORE_CREATED, merchant=other_merchant, target="OTHER-STORE")
    audit_record(action=AuditAction.SIGN_IN_FAILED, merchant=None, target="owner@alpha.test", data={"email": "x"})

    response = owner_client.get(page_url("audit-list", merchant))

    assert [(e.action, e.target) for e in response.context["events"]] == [(AuditAction.STORE_CREATED, "P01")]
    body = response.content.decode()
    assert "Store created" in body
    assert "OTHER-STORE" not in body
    assert "Sign-in failed" not in body.split("</select>")[-1]


def test_filter_by_action_and_paginate(owner_client, merchant):
    for n in range(55):
        audit_record(action=AuditAction.STORE_UPDATED, merchant=merchant, target=f"S{n:02d}")
    audit_record(action=AuditAction.API_KEY_CREATED, merchant=merchant, target="key")

    first = owner_client.get(page_url("audit-list", merchant), {"action": AuditAction.STORE_UPDATED})
    second = owner_client.get(page_url("audit-list", merchant), {"action": AuditAction.STORE_UPDATED, "page": 2})

    assert [e.target for e in first.context["events"]][:2] == ["S54", "S53"]
    assert len(first.context["events"]) == 50
    assert [e.target for e in second.context["events"]] == ["S04", "S03", "S02", "S01", "S00"]
    assert "action=store.updated&amp;page=2" in first.content.decode()


def test_each_row_shows_time_actor_action_target_and_ip(owner_client, merchant, rf):
    request = rf.get("/", REMOTE_ADDR="203.0.113.9")
    audit_record(
        action=AuditAction.MERCHANT_UPDATED,
        merchant=merchant,
        actor=owner_client.user,
        target="alpha",
        request=request,
        data={"changed": {"currency": ["EUR", "USD"]}},
    )

    body = owner_client.get(page_url("audit-list", merchant)).content.decode()

    for text in ("owner@alpha.test", "Settings changed", "alpha", "203.0.113.9", "currency: EUR → USD"):
        assert text in body


def test_empty_state(owner_client, merchant):
    assert "No events yet." in owner_client.get(page_url("audit-list", merchant)).content.decode()


def test_audit_query_count_does_not_grow_with_rows(owner_client, merchant, django_assert_num_queries):
    for n in range(3):
        audit_record(action=AuditAction.STORE_UPDATED, merchant=merchant, actor=owner_client.user, target=f"S{n}")
    # session, user, tenant membership, count, page of events (with actor and key), switcher memberships
    with django_assert_num_queries(6):
        owner_client.get(page_url("audit-list", merchant))
    for n in range(5):
        audit_record(action=AuditAction.STORE_UPDATED, merchant=merchant, actor=owner_client.user, target=f"T{n}")
    with django_assert_num_queries(6):
        owner_client.get(page_url("audit-list", merchant))


def test_audit_rows_are_written_for_portal_actions(owner_client, merchant):
    owner_client.post(page_url("apikey-create", merchant), {"name": "k", "scopes": ["stores:read"]})

    assert list(AuditEvent.objects.for_merchant(merchant).values_list("action", "ip_address")) == [
        (AuditAction.API_KEY_CREATED, "127.0.0.1")
    ]
