"""Building blocks for the partner API's viewsets shared by several apps."""

from __future__ import annotations

from typing import Any


class TenantWriteViewSetMixin:
    """For a viewset on TenantAPIMixin whose ``update`` writes through a service.

    Gives its serializers the key's tenant (``context["tenant"]``; not during schema generation, where there is
    no key), and ``partial_update`` as ``update`` with ``partial=True``.
    """

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["tenant"] = self.tenant
        return context

    def partial_update(self, request, *args: Any, **kwargs: Any):
        kwargs["partial"] = True
        return self.update(request, *args, **kwargs)
