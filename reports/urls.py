"""Pages of ``reports``, mounted under ``/m/<merchant_slug>/reports/``."""

from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("", views.ReportListView.as_view(), name="report-list"),
    path("<int:pk>/", views.ReportDetailView.as_view(), name="report-detail"),
    path("<int:pk>/progress/", views.ReportProgressView.as_view(), name="report-progress"),
    path("<int:pk>/cancel/", views.ReportCancelView.as_view(), name="report-cancel"),
    path("<int:pk>/retry/", views.ReportRetryView.as_view(), name="report-retry"),
    path("<int:pk>/download/", views.ReportDownloadView.as_view(), name="report-download"),
    path("schedules/", views.ScheduleListView.as_view(), name="schedule-list"),
    path("schedules/<int:pk>/delete/", views.ScheduleDeleteView.as_view(), name="schedule-delete"),
]
