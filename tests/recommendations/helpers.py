"""Small builders for the recommendations API/editor tests: a computed state with suggestion rows."""

from __future__ import annotations

from datetime import UTC, date, datetime

from recommendations.models import JobStatus, RecommendationJob, RecommendationState, Suggestion

COMPUTED_AT = datetime(2024, 6, 2, 2, 0, 5, tzinfo=UTC)


def computed_state(merchant, rows: list[dict], *, computed_at: datetime = COMPUTED_AT) -> RecommendationJob:
    """A succeeded job made current, with ``rows`` (Suggestion fields) written under it."""
    job = RecommendationJob.objects.create(
        merchant=merchant,
        status=JobStatus.SUCCEEDED,
        window_start=date(2023, 6, 3),
        window_end=date(2024, 6, 1),
        baskets_count=1200,
        progress_done=9,
        progress_total=9,
        started_at=computed_at,
        finished_at=computed_at,
    )
    RecommendationState.objects.update_or_create(
        merchant=merchant, defaults={"current_job": job, "computed_at": computed_at}
    )
    Suggestion.objects.bulk_create(
        Suggestion(merchant_id=merchant.pk, job_id=job.pk, **{"scope": "all", "rank": n + 1, **row})
        for n, row in enumerate(rows)
    )
    return job


def together(product, partner, *, shared: int, confidence: float, lift: float, offline: int, online: int, **extra):
    """A bought-together suggestion row (score = confidence)."""
    return {
        "kind": "bought_together",
        "product": product,
        "partner": partner,
        "score": confidence,
        "support": shared,
        "confidence": confidence,
        "lift": lift,
        "baskets_offline": offline,
        "baskets_online": online,
        **extra,
    }


def trending(partner, score: float, **extra):
    return {"kind": "trending", "product": None, "partner": partner, "score": score, **extra}
