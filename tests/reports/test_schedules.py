"""Scheduled reports: relative periods in the merchant's time zone, idempotent beat runs, e-mails with a link."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.urls import reverse

from merchants.models import Role
from merchants.tenancy import Tenant
from reports.models import ReportJob, ReportSchedule, ReportStatus
from reports.services import (
    next_run_after,
    period_for,
    report_job_run,
    report_schedule_create,
    report_schedules_run,
)

from ..factories import MembershipFactory, UserFactory
from .conftest import ingest, line, order

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("_case", "frequency", "today", "expected"),
    [
        ("weekly on a Monday", "weekly", date(2024, 4, 1), (date(2024, 3, 25), date(2024, 3, 31))),
        ("weekly on a Sunday", "weekly", date(2024, 4, 7), (date(2024, 3, 25), date(2024, 3, 31))),
        ("monthly", "monthly", date(2024, 3, 1), (date(2024, 2, 1), date(2024, 2, 29))),
        ("monthly in January", "monthly", date(2025, 1, 15), (date(2024, 12, 1), date(2024, 12, 31))),
    ],
)
def test_periods(_case, frequency, today, expected):
    assert period_for(frequency, today) == expected


@pytest.mark.parametrize(
    ("_case", "frequency", "now", "expected_utc"),
    [
        ("weekly across the spring DST change", "weekly", "2024-03-30T12:00:00+00:00", "2024-04-01T04:00:00+00:00"),
        ("weekly on Monday before 6:00 local", "weekly", "2024-04-01T03:00:00+00:00", "2024-04-01T04:00:00+00:00"),
        ("monthly across the autumn DST change", "monthly", "2024-10-15T00:00:00+00:00", "2024-11-01T05:00:00+00:00"),
        ("monthly on the 1st after 6:00", "monthly", "2024-12-01T06:00:00+00:00", "2025-01-01T05:00:00+00:00"),
    ],
)
def test_next_run_is_6am_local(_case, frequency, now, expected_utc):
    moment = datetime.fromisoformat(now)
    assert next_run_after(frequency, moment, PARIS).astimezone(UTC) == datetime.fromisoformat(expected_utc)


@pytest.fixture
def schedule(merchant, shop, owner_client):
    analyst = MembershipFactory(merchant=merchant, role=Role.ANALYST, user=UserFactory(email="ana@alpha.test"))
    manager = MembershipFactory(merchant=merchant, role=Role.STORE_MANAGER, user=UserFactory(email="sm@alpha.test"))
    manager.stores.add(shop["paris"])
    return report_schedule_create(
        tenant=Tenant(merchant=merchant, role=Role.OWNER, membership=owner_client.membership),
        name="Weekly lines",
        kind="order-lines",
        format="csv",
        frequency="weekly",
        params={"channel": "offline"},
        recipients=[owner_client.membership.pk, analyst.pk, manager.pk],
        actor=owner_client.user,
    )


def test_a_due_schedule_queues_one_job_for_last_week_and_mails_a_link(merchant, shop, schedule):
    ingest(merchant, order("P-1", "2024-03-27T10:00:00+00:00", [line("TEE-1")], store="PAR-01"))
    ReportSchedule.objects.filter(pk=schedule.pk).update(next_run_at=datetime(2024, 4, 1, 4, tzinfo=UTC))
    now = datetime(2024, 4, 1, 4, 5, tzinfo=UTC)
    # When beat runs (twice: the second run finds nothing due)
    created = report_schedules_run(now=now)
    assert report_schedules_run(now=now) == []
    job = ReportJob.objects.get(pk=created[0])
    assert (job.schedule_id, job.schedule_period_start, job.params) == (
        schedule.pk,
        date(2024, 3, 25),
        {"from": "2024-03-25", "to": "2024-03-31", "channel": "offline"},
    )
    schedule.refresh_from_db()
    assert schedule.next_run_at == datetime(2024, 4, 8, 4, tzinfo=UTC)
    # Then the worker builds it and the recipients who may open it get a link to the job page
    job = report_job_run(job.pk)
    assert (job.status, job.rows) == (ReportStatus.SUCCEEDED, 1)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ana@alpha.test", "owner@alpha.test"]  # the store manager may not open an all-stores job
    assert message.subject == "[Maison Alpha] Weekly lines is ready"
    assert f"http://127.0.0.1:8000/m/alpha/reports/{job.pk}/" in message.body
    assert job.file.name not in message.body
    # Sent once
    report_job_run(job.pk)
    assert len(mail.outbox) == 1


def test_the_schedules_page_is_for_owners_and_admins(owner_client, analyst_client, merchant, shop):
    page = reverse("reports:schedule-list", args=[merchant.slug])
    assert analyst_client.get(page).status_code == 403
    response = owner_client.post(
        page,
        {
            "name": "Monthly summary",
            "kind": "order-lines",
            "frequency": "monthly",
            "format": "xlsx",
            "recipients": [str(owner_client.membership.pk)],
            "store": ["PAR-01"],
        },
    )
    assert response.status_code == 302
    schedule = ReportSchedule.objects.get(merchant=merchant)
    assert (schedule.kind, schedule.params, schedule.recipients) == (
        "order-lines",
        {"store": ["PAR-01"]},
        [owner_client.membership.pk],
    )
    assert schedule.next_run_at.astimezone(PARIS).day == 1
    assert "Monthly summary" in owner_client.get(page).content.decode()
    owner_client.post(reverse("reports:schedule-delete", args=[merchant.slug, schedule.pk]))
    assert not ReportSchedule.objects.exists()
