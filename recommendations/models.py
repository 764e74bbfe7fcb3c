"""Recommendations: merchant rules, computation jobs, and the learnt suggestions they produce.

- ``RecommendationRule``: a pin, an exclusion or a global block, for one product or for every product of a
  category (a block has neither: "never recommend Y"), scoped to all channels, one channel or a set of stores,
  with an optional campaign window in the merchant's time zone. Validation lives in ``recommendations/rules.py``.
- ``RecommendationJob``: one computation of suggestions (status, progress, window, counts, error).
- ``RecommendationState``: one row per merchant pointing at the *current* job. A computation writes all its
  ``Suggestion`` rows under its own job id, then flips this pointer in one transaction, then deletes the old
  job's rows: readers only ever read the rows of the job the pointer names, so they never see half of one.
- ``Suggestion``: one learnt (product → partner) pair, or a trending product (``product`` null), per scope,
  with its rank, score and evidence. Written by ``COPY`` (millions of rows at scale): its foreign keys have no
  database constraint and it has one composite index, the one the resolver reads.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from merchants.models import TenantModel


class RuleKind(models.TextChoices):
    PIN = "pin", "Pin"
    EXCLUDE = "exclude", "Exclusion"
    BLOCK = "block", "Global block"


class RuleChannel(models.TextChoices):
    ALL = "all", "All channels"
    ONLINE = "online", "Online"
    OFFLINE = "offline", "In store"


class RecommendationRule(TenantModel):
    """A rule by hand. ``product`` or ``category`` (one of them) for pins and exclusions; neither for a block.

    ``stores`` empty means "not store-scoped" (then ``channel`` is the scope); with stores, the rule applies in
    those stores only. Store links carry the merchant too: set them with
    ``rule.stores.set(stores, through_defaults={"merchant_id": rule.merchant_id})``.
    """

    product = models.ForeignKey(
        "catalog.Product", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    category = models.ForeignKey(
        "catalog.Category", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    kind = models.CharField(max_length=8, choices=RuleKind.choices)
    target = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+", db_index=False)
    position = models.PositiveIntegerField(default=0)  # order of pins within one scope (0 first)
    channel = models.CharField(max_length=8, choices=RuleChannel.choices, default=RuleChannel.ALL)
    stores = models.ManyToManyField("stores.Store", through="RecommendationRuleStore", related_name="+", blank=True)
    starts_on = models.DateField(null=True, blank=True)  # inclusive, merchant's local day
    ends_on = models.DateField(null=True, blank=True)  # inclusive, merchant's local day
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["merchant_id", "kind", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="block", product__isnull=True, category__isnull=True))
                | (~Q(kind="block") & Q(product__isnull=False, category__isnull=True))
                | (~Q(kind="block") & Q(product__isnull=True, category__isnull=False)),
                name="recommendation_rule_subject",
                violation_error_message="A pin or exclusion names a product or a category (one); a block neither.",
            ),
            models.CheckConstraint(
                condition=Q(product__isnull=True) | ~Q(product=models.F("target")),
                name="recommendation_rule_not_self",
                violation_error_message="A product cannot be pinned to or excluded from itself.",
            ),
            models.CheckConstraint(
                condition=Q(starts_on__isnull=True) | Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                name="recommendation_rule_window",
                violation_error_message="The campaign window ends before it starts.",
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "product"], name="reco_rule_product_idx"),
            models.Index(fields=["merchant", "category"], name="reco_rule_category_idx"),
            models.Index(fields=["merchant", "kind"], name="reco_rule_kind_idx"),
            models.Index(fields=["merchant", "target"], name="reco_rule_target_idx"),
        ]

    def __str__(self) -> str:
        subject = f"product #{self.product_id}" if self.product_id else f"category #{self.category_id}"
        if self.kind == RuleKind.BLOCK:
            return f"block #{self.target_id}"
        return f"{self.kind} #{self.target_id} for {subject}"


class RecommendationRuleStore(TenantModel):
    rule = models.ForeignKey(RecommendationRule, on_delete=models.CASCADE, related_name="store_links")
    store = models.ForeignKey("stores.Store", on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "rule", "store"], name="recommendation_rule_store_unique")
        ]
        indexes = [models.Index(fields=["merchant", "store"], name="reco_rule_store_idx")]

    def __str__(self) -> str:
        return f"rule #{self.rule_id} @ store #{self.store_id}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class JobTrigger(models.TextChoices):
    NIGHTLY = "nightly", "Nightly"
    MANUAL = "manual", "Button"
    API = "api", "API"
    COMMAND = "command", "Command"


class RecommendationJob(TenantModel):
    """One computation of suggestions; ``RecommendationState.current_job`` names the one in use."""

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    trigger = models.CharField(max_length=16, choices=JobTrigger.choices, default=JobTrigger.MANUAL)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    window_days = models.PositiveIntegerField(default=365)
    window_start = models.DateField(null=True, blank=True)  # first local day read (inclusive)
    window_end = models.DateField(null=True, blank=True)  # last local day read (inclusive)
    progress_done = models.PositiveIntegerField(default=0)  # steps done of progress_total
    progress_total = models.PositiveIntegerField(default=0)
    progress_step = models.CharField(max_length=64, blank=True)  # "reading baskets", "pairs per store", ...
    lines_read = models.BigIntegerField(default=0)
    baskets_count = models.BigIntegerField(default=0)  # multi-item and single-item baskets in the window
    customers_count = models.BigIntegerField(default=0)  # customers with a later order within 90 days
    products_count = models.IntegerField(default=0)  # distinct products sold in the window
    products_with_suggestions = models.IntegerField(default=0)
    suggestions_count = models.BigIntegerField(default=0)  # rows written
    store_scopes = models.IntegerField(default=0)  # stores that had enough support for their own lists
    timings = models.JSONField(default=dict, blank=True)  # step -> seconds
    error_message = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["merchant", "-created_at"], name="reco_job_created_idx"),
            models.Index(fields=["merchant", "status"], name="reco_job_status_idx"),
        ]

    def __str__(self) -> str:
        return f"Recommendations job #{self.pk} {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    @property
    def progress_percent(self) -> int:
        if not self.progress_total:
            return 100 if self.status == JobStatus.SUCCEEDED else 0
        return min(100, int(100 * self.progress_done / self.progress_total))

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class RecommendationState(TenantModel):
    """Per merchant: which computation is current (flipped atomically). One row per merchant."""

    current_job = models.ForeignKey(
        RecommendationJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    computed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant"], name="recommendation_state_unique")]

    def __str__(self) -> str:
        return f"merchant #{self.merchant_id}: job #{self.current_job_id}"


class SuggestionKind(models.TextChoices):
    BOUGHT_TOGETHER = "bought_together", "Bought together"
    BOUGHT_LATER = "bought_later", "Bought later"
    TRENDING = "trending", "Trending"  # recency-weighted popularity (half-life 14 days), product null
    BESTSELLER = "bestseller", "Bestseller"  # plain popularity over the window, product null


class SuggestionScope(models.TextChoices):
    ALL = "all", "All channels"
    ONLINE = "online", "Online"
    OFFLINE = "offline", "In store (all stores)"
    STORE = "store", "One store"  # then ``store`` is set: in-store baskets of that store


class Suggestion(TenantModel):
    """A learnt suggestion. ``product`` → ``partner`` for bought together/later; ``product`` null for
    trending and bestsellers.

    Evidence: ``support`` is the number of shared baskets (bought together) or of customers who bought the
    partner in a later order (bought later); ``confidence`` = support / baskets (customers) with ``product``;
    ``lift`` = confidence / share of baskets with ``partner``; ``baskets_offline``/``baskets_online`` split the
    shared baskets by channel (bought together) or count the later orders by channel (bought later).
    """

    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    job = models.ForeignKey(
        RecommendationJob, on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    kind = models.CharField(max_length=16, choices=SuggestionKind.choices)
    scope = models.CharField(max_length=8, choices=SuggestionScope.choices)
    store = models.ForeignKey(
        "stores.Store",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    product = models.ForeignKey(
        "catalog.Product",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    partner = models.ForeignKey(
        "catalog.Product", on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    rank = models.PositiveSmallIntegerField()  # 1 = best within (job, kind, scope, store, product)
    score = models.FloatField()
    support = models.IntegerField(default=0)
    confidence = models.FloatField(default=0)
    lift = models.FloatField(default=0)
    baskets_offline = models.IntegerField(default=0)
    baskets_online = models.IntegerField(default=0)

    class Meta:
        indexes = [
            # The resolver: one product's suggestions (or the trending list, product null) in the current job.
            models.Index(fields=["merchant", "job", "product", "kind", "scope", "store", "rank"], name="reco_sugg_idx")
        ]

    def __str__(self) -> str:
        return f"{self.kind}/{self.scope}: #{self.product_id} → #{self.partner_id} ({self.rank})"
