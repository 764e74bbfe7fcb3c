"""Sales pages, mounted at ``/m/<merchant_slug>/sales/``: file imports."""

from django.urls import path

from . import views

app_name = "sales"

urlpatterns = [
    path("imports/", views.ImportListView.as_view(), name="import-list"),
    path("imports/<int:pk>/", views.ImportDetailView.as_view(), name="import-detail"),
    path("imports/<int:pk>/progress/", views.ImportProgressView.as_view(), name="import-progress"),
    path("imports/<int:pk>/errors.csv", views.ImportErrorsCsvView.as_view(), name="import-errors-csv"),
]
