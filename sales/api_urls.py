"""``/api/v1/orders/``, ``/api/v1/orders/batch/`` and ``/api/v1/orders/{source}/{external_id}/``.

External ids come from other systems and may contain any character (``#1042``, ``POS/PAR01/77``, ``a:b``). The
``external_id`` path converter takes everything between the source and the URL's final slash, so ``/`` may be
sent as is or percent-encoded (Django decodes ``%2F`` before routing); characters with a meaning in URLs must be
percent-encoded as usual (``#`` → ``%23``, ``?`` → ``%3F``, ``%`` → ``%25``). ``reverse()`` encodes them.
"""

from django.urls import path, register_converter

from sales.api import (
    ImportDetailView,
    ImportErrorListView,
    ImportListCreateView,
    OrderBatchView,
    OrderDetailView,
    OrderListView,
)


class ExternalIdConverter:
    regex = r".+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value  # reverse() percent-encodes what a URL cannot carry as is


register_converter(ExternalIdConverter, "external_id")

urlpatterns = [
    path("orders/", OrderListView.as_view(), name="order-list"),
    path("orders/batch/", OrderBatchView.as_view(), name="order-batch"),
    path("orders/<str:source>/<external_id:external_id>/", OrderDetailView.as_view(), name="order-detail"),
    path("imports/", ImportListCreateView.as_view(), name="import-list"),
    path("imports/<int:pk>/", ImportDetailView.as_view(), name="import-detail"),
    path("imports/<int:pk>/errors/", ImportErrorListView.as_view(), name="import-errors"),
]
