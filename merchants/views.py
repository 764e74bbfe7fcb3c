"""Merchant portal pages: landing, home, onboarding, settings, members, API keys, audit log.

PLACEHOLDER views: being implemented (see issue 2). Names and URLs are fixed in urls.py.
"""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import TemplateView, View

from .models import Membership
from .tenancy import MerchantViewMixin


def landing(request):
    if request.user.is_authenticated:
        return redirect("merchants:home-redirect")
    return redirect("accounts:login")


@login_required
def home_redirect(request):
    membership = Membership.objects.filter(user=request.user).select_related("merchant").first()
    if membership is None:
        return redirect("merchants:merchant-create")
    return redirect("merchants:home", merchant_slug=membership.merchant.slug)


class HomeView(MerchantViewMixin, TemplateView):
    template_name = "merchants/home.html"


class _Todo(MerchantViewMixin, View):
    def get(self, request, *args, **kwargs):
        return redirect(reverse("merchants:home", args=[kwargs["merchant_slug"]]))


class MerchantCreateView(View):
    pass


class InvitationAcceptView(View):
    pass


OnboardingView = SettingsView = MemberListView = InvitationCreateView = MemberUpdateView = _Todo
MemberRemoveView = InvitationRevokeView = ApiKeyListView = ApiKeyCreateView = ApiKeyRevokeView = _Todo
AuditListView = _Todo
