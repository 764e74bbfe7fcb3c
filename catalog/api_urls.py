"""``/api/v1/products/``, ``/api/v1/products/bulk/`` and ``/api/v1/categories/`` (see ``catalog/api.py``).

The bulk route comes before the router's: a product URL takes any SKU, ``/`` included.
"""

from django.urls import path
from rest_framework.routers import SimpleRouter

from catalog.api import CategoryViewSet, ProductBulkUpsertView, ProductViewSet

router = SimpleRouter()
router.register("products", ProductViewSet, basename="product")
router.register("categories", CategoryViewSet, basename="category")

urlpatterns = [
    path("products/bulk/", ProductBulkUpsertView.as_view(), name="product-bulk"),
    *router.urls,
]
