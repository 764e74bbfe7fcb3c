"""``/api/v1/stores/``: list, create, retrieve, update and close (see ``stores/api.py``)."""

from rest_framework.routers import SimpleRouter

from stores.api import StoreViewSet

router = SimpleRouter()
router.register("stores", StoreViewSet, basename="store")

urlpatterns = router.urls
