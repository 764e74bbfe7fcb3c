"""Pages of ``recommendations``, mounted under ``/m/<merchant_slug>/recommendations/``."""

from django.urls import path

from . import views

app_name = "recommendations"

urlpatterns = [
    path("", views.EditorView.as_view(), name="editor"),
    path("products/", views.ProductSearchView.as_view(), name="product-search"),
    path("preview/", views.PreviewView.as_view(), name="preview"),
    path("rules/", views.RuleListView.as_view(), name="rule-list"),
    path("rules/reorder/", views.RuleReorderView.as_view(), name="rule-reorder"),
    path("rules/export.csv", views.RuleExportView.as_view(), name="rule-export"),
    path("rules/import/", views.RuleImportView.as_view(), name="rule-import"),
    path("rules/import/template.csv", views.RuleImportTemplateView.as_view(), name="rule-import-template"),
    path("rules/<int:pk>/delete/", views.RuleDeleteView.as_view(), name="rule-delete"),
    path("rules/<int:pk>/move/", views.RuleMoveView.as_view(), name="rule-move"),
    path("compute/", views.ComputeView.as_view(), name="compute"),
    path("evaluation/", views.EvaluationView.as_view(), name="evaluation"),
    path("jobs/<int:pk>/progress/", views.JobProgressView.as_view(), name="job-progress"),
]
