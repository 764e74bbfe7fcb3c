"""Catalogue pages, mounted at ``/m/<merchant_slug>/catalog/``.

Product URLs carry the SKU (``path`` converter: SKUs may contain ``/``). There is no delete: products are
set inactive.
"""

from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [
    path("", views.ProductListView.as_view(), name="product-list"),
    path("new/", views.ProductCreateView.as_view(), name="product-create"),
    path("import/", views.ProductImportView.as_view(), name="product-import"),
    path("import/template.csv", views.ProductImportTemplateView.as_view(), name="product-import-template"),
    path("categories/", views.CategoryListView.as_view(), name="category-list"),
    # "edit/" before the detail: a path converter would otherwise swallow it into the SKU.
    path("products/<path:sku>/edit/", views.ProductUpdateView.as_view(), name="product-update"),
    path("products/<path:sku>/", views.ProductDetailView.as_view(), name="product-detail"),
]
