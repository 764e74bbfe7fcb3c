from django.urls import path

from analytics.views import DashboardView

from . import views

app_name = "merchants"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("m/", views.home_redirect, name="home-redirect"),
    path("m/new/", views.MerchantCreateView.as_view(), name="merchant-create"),
    path("invitations/<str:token>/", views.InvitationAcceptView.as_view(), name="invitation-accept"),
    # The merchant's home is the merged sales dashboard (analytics).
    path("m/<slug:merchant_slug>/", DashboardView.as_view(), name="home"),
    path("m/<slug:merchant_slug>/onboarding/", views.OnboardingView.as_view(), name="onboarding"),
    path("m/<slug:merchant_slug>/onboarding/<str:step>/", views.OnboardingView.as_view(), name="onboarding-step"),
    path("m/<slug:merchant_slug>/settings/", views.SettingsView.as_view(), name="settings"),
    path("m/<slug:merchant_slug>/members/", views.MemberListView.as_view(), name="member-list"),
    path("m/<slug:merchant_slug>/members/invite/", views.InvitationCreateView.as_view(), name="invitation-create"),
    path("m/<slug:merchant_slug>/members/<int:pk>/edit/", views.MemberUpdateView.as_view(), name="member-update"),
    path("m/<slug:merchant_slug>/members/<int:pk>/remove/", views.MemberRemoveView.as_view(), name="member-remove"),
    path(
        "m/<slug:merchant_slug>/invitations/<int:pk>/revoke/",
        views.InvitationRevokeView.as_view(),
        name="invitation-revoke",
    ),
    path("m/<slug:merchant_slug>/api-keys/", views.ApiKeyListView.as_view(), name="apikey-list"),
    path("m/<slug:merchant_slug>/api-keys/new/", views.ApiKeyCreateView.as_view(), name="apikey-create"),
    path("m/<slug:merchant_slug>/api-keys/<int:pk>/revoke/", views.ApiKeyRevokeView.as_view(), name="apikey-revoke"),
    path("m/<slug:merchant_slug>/audit/", views.AuditListView.as_view(), name="audit-list"),
]
