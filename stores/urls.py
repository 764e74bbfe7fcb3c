"""Store pages, mounted at ``/m/<merchant_slug>/stores/``. There is deliberately no delete: stores are closed."""

from django.urls import path

from . import views

app_name = "stores"

urlpatterns = [
    path("", views.StoreListView.as_view(), name="store-list"),
    path("new/", views.StoreCreateView.as_view(), name="store-create"),
    path("import/", views.StoreImportView.as_view(), name="store-import"),
    path("import/template.csv", views.StoreImportTemplateView.as_view(), name="store-import-template"),
    path("<str:code>/", views.StoreDetailView.as_view(), name="store-detail"),
    path("<str:code>/edit/", views.StoreUpdateView.as_view(), name="store-update"),
    path("<str:code>/close/", views.StoreCloseView.as_view(), name="store-close"),
    path("<str:code>/reopen/", views.StoreReopenView.as_view(), name="store-reopen"),
]
