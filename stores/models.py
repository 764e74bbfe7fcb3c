"""Physical stores of a merchant."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Upper
from django_countries.fields import CountryField

from merchants.models import TenantModel, validate_timezone

from .validation import STORE_CODE_HELP, STORE_CODE_MAX_LENGTH, WEEKDAYS, validate_opening_hours, validate_store_code

__all__ = ["WEEKDAYS", "Store", "StoreStatus"]


class StoreStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CLOSED = "closed", "Closed"


class Store(TenantModel):
    # A store manager's reads are limited to their stores: the store itself is the restricted object.
    tenant_store_field = "pk"

    # Stored upper-cased by the services (codes are case-insensitive); see stores/validation.py.
    code = models.CharField(
        max_length=STORE_CODE_MAX_LENGTH,
        validators=[validate_store_code],
        help_text=f"The merchant's own store code, unique per merchant. {STORE_CODE_HELP}",
    )
    name = models.CharField(max_length=150)
    address_line1 = models.CharField("address line 1", max_length=200, blank=True)
    address_line2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = CountryField()
    latitude = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    timezone = models.CharField(max_length=64, validators=[validate_timezone])
    # {"mon": ["09:00-19:00"], "sun": []}: weekday -> list of "HH:MM-HH:MM" intervals; missing/empty = closed.
    opening_hours = models.JSONField(default=dict, blank=True, validators=[validate_opening_hours])
    opened_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=StoreStatus.choices, default=StoreStatus.ACTIVE)
    closed_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["merchant_id", "code"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "code"], name="store_unique_code_per_merchant"),
            # Codes are case-insensitive: the services store them upper-cased, and lookups upper-case too.
            models.CheckConstraint(
                condition=models.Q(code=Upper("code")),
                name="store_code_upper_case",
                violation_error_message="Store codes are upper-case (PAR-01, not par-01).",
            ),
            # A store is never deleted; closing it records the day. Only closed stores carry that day.
            models.CheckConstraint(
                condition=models.Q(status="closed") | models.Q(closed_on__isnull=True),
                name="store_closed_on_only_when_closed",
            ),
            models.CheckConstraint(
                condition=models.Q(latitude__isnull=True) | models.Q(latitude__gte=-90, latitude__lte=90),
                name="store_latitude_range",
            ),
            models.CheckConstraint(
                condition=models.Q(longitude__isnull=True) | models.Q(longitude__gte=-180, longitude__lte=180),
                name="store_longitude_range",
            ),
        ]
        indexes = [models.Index(fields=["merchant", "status"]), models.Index(fields=["merchant", "region"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"
