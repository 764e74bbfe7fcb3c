from datetime import timedelta

import pytest
from django.utils import timezone

from sales.models import IdempotencyRecord
from sales.tasks import idempotency_records_purge_task

pytestmark = pytest.mark.django_db


def test_purge_forgets_answers_older_than_a_day_and_keeps_recent_ones(merchant, other_merchant):
    # Given an old and a recent record, for two merchants
    def record(owner, key, age):
        created = IdempotencyRecord.objects.create(
            merchant=owner, key=key, request_hash="h", status_code=200, response={"ok": True}
        )
        IdempotencyRecord.objects.filter(pk=created.pk).update(created_at=timezone.now() - age)

    record(merchant, "old", timedelta(hours=25))
    record(other_merchant, "old", timedelta(days=3))
    record(merchant, "recent", timedelta(hours=23))

    # When the nightly task runs
    deleted = idempotency_records_purge_task()

    # Then only the recent record is left
    assert deleted == 2
    assert list(IdempotencyRecord.objects.values_list("merchant__slug", "key")) == [("alpha", "recent")]
