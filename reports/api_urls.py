"""``/api/v1/`` routes of ``reports``."""

from django.urls import path

from .api import ReportCancelView, ReportCreateView, ReportDetailView, ReportDownloadView

urlpatterns = [
    path("reports/", ReportCreateView.as_view(), name="report-list"),
    path("reports/<int:pk>/", ReportDetailView.as_view(), name="report-detail"),
    path("reports/<int:pk>/download/", ReportDownloadView.as_view(), name="report-download"),
    path("reports/<int:pk>/cancel/", ReportCancelView.as_view(), name="report-cancel"),
]
