from django.urls import path
from django.views.generic import TemplateView

app_name = "stores"
# PLACEHOLDER: being implemented (issue 2).
urlpatterns = [path("", TemplateView.as_view(template_name="base.html"), name="store-list")]
