from django.urls import path
from django.views.generic import TemplateView

app_name = "catalog"
# PLACEHOLDER: being implemented (issue 2).
urlpatterns = [path("", TemplateView.as_view(template_name="base.html"), name="product-list")]
