"""The merchant's catalogue: categories and products (SKU unique per merchant)."""

from django.core.validators import MinValueValidator
from django.db import models

from merchants.models import TenantModel

from .validation import validate_sku


class Category(TenantModel):
    name = models.CharField(max_length=120)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")

    class Meta:
        ordering = ["merchant_id", "name"]
        verbose_name_plural = "categories"
        constraints = [models.UniqueConstraint(fields=["merchant", "name"], name="category_unique_name_per_merchant")]

    def __str__(self) -> str:
        return self.name


class Product(TenantModel):
    # Case-sensitive, kept as given (see catalog/validation.py).
    sku = models.CharField("SKU", max_length=64, validators=[validate_sku])
    name = models.CharField(max_length=255)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="products")
    brand = models.CharField(max_length=120, blank=True)
    price = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    active = models.BooleanField(default=True)
    # Created automatically by a sales import from an SKU the catalogue did not know: a human should review it.
    is_placeholder = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["merchant_id", "sku"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "sku"], name="product_unique_sku_per_merchant"),
            models.CheckConstraint(
                condition=models.Q(price__gte=0) | models.Q(price__isnull=True), name="product_price_non_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "category"]),
            models.Index(fields=["merchant", "is_placeholder"]),
        ]

    def __str__(self) -> str:
        return f"{self.sku} — {self.name}"
