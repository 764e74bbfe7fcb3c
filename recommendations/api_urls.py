"""``/api/v1/recommendations/...`` and ``/api/v1/recommendation-rules/`` (see ``recommendations/api.py``)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from recommendations.api import ComputeView, JobDetailView, RecommendationView, RuleViewSet

router = SimpleRouter()
router.register("recommendation-rules", RuleViewSet, basename="recommendation-rule")

urlpatterns = [
    path("recommendations/", RecommendationView.as_view(), name="recommendation-list"),
    path("recommendations/compute/", ComputeView.as_view(), name="recommendation-compute"),
    path("recommendations/jobs/<int:pk>/", JobDetailView.as_view(), name="recommendation-job-detail"),
    *router.urls,
]
