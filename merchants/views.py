"""Merchant portal pages: landing, home, onboarding, settings, members and invitations, API keys, audit log.

Every page under ``/m/<merchant_slug>/`` inherits :class:`PortalView` (``MerchantViewMixin``): it resolves the
tenant, checks the role's permission, and reads only through ``self.tenant.scope`` / ``self.tenant.get_object``.
Writes go through ``merchants.services``; a service's ``ValidationError`` is shown on the form or as a message.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import Case, IntegerField, Prefetch, Value, When
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.generic import FormView, ListView, TemplateView, View

from stores.models import Store

from . import services
from .forms import (
    ApiKeyForm,
    AuditFilterForm,
    InvitationForm,
    InvitationSignUpForm,
    MemberUpdateForm,
    MerchantCreateForm,
    MerchantProfileForm,
)
from .models import ApiKey, AuditEvent, Invitation, Membership, MerchantStatus, OnboardingStep, Role
from .tenancy import MerchantSuspended, MerchantViewMixin, Perm

User = get_user_model()

SESSION_LAST_MERCHANT = "last_merchant_slug"
AUDIT_PAGE_SIZE = 50
INVITATIONS_SHOWN = 50
ONBOARDING_STEPS = list(OnboardingStep)
# Several auth backends are configured (axes first): name the one that logs a new user in.
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


# --- helpers --------------------------------------------------------------------------------


def remember_merchant(request, merchant) -> None:
    """Remember the merchant last worked on, for ``home_redirect`` (written only when it changes)."""
    if request.session.get(SESSION_LAST_MERCHANT) != merchant.slug:
        request.session[SESSION_LAST_MERCHANT] = merchant.slug


def apply_service_error(form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: on its field when the form has one, else on top."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def login_url_for(email: str, next_url: str) -> str:
    """The log-in page pre-filled with an address, sending the user back to ``next_url`` afterwards."""
    return f"{reverse('accounts:login')}?{urlencode({'email': email, 'next': next_url})}"


def error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


def no_store(response):
    # Pages that show a secret must not be kept by the browser or a proxy.
    add_never_cache_headers(response)
    response["Cache-Control"] = "no-store, " + response["Cache-Control"]
    return response


# --- entry points ---------------------------------------------------------------------------


def landing(request):
    if request.user.is_authenticated:
        return redirect("merchants:home-redirect")
    return redirect("accounts:login")


@login_required
def home_redirect(request):
    """Send the user to the merchant they last worked on, else their first (active ones first)."""
    memberships = Membership.objects.filter(user=request.user).select_related("merchant")
    chosen = None
    if slug := request.session.get(SESSION_LAST_MERCHANT):
        chosen = memberships.filter(merchant__slug=slug).first()
    if chosen is None:
        active_first = Case(
            When(merchant__status=MerchantStatus.ACTIVE, then=Value(0)), default=Value(1), output_field=IntegerField()
        )
        chosen = memberships.order_by(active_first, "merchant__name").first()
    if chosen is None:
        messages.info(request, "You are not part of any brand yet: create one, or open an invitation link.")
        return redirect("merchants:merchant-create")
    return redirect("merchants:home", merchant_slug=chosen.merchant.slug)


def permission_denied(request, exception=None):
    """handler403: a suspended merchant gets its own page with the reason; other refusals say why."""
    context = {"exception": str(exception) if exception else ""}
    if isinstance(exception, MerchantSuspended):
        context["suspended_merchant"] = exception.merchant
    return render(request, "403.html", context, status=403)


class MerchantCreateView(LoginRequiredMixin, FormView):
    """A signed-in user adds another brand (an agency, a group with several brands)."""

    template_name = "merchants/merchant_create.html"
    form_class = MerchantCreateForm

    def form_valid(self, form):
        merchant = services.merchant_create(
            name=form.cleaned_data["name"], owner=self.request.user, request=self.request
        )
        remember_merchant(self.request, merchant)
        messages.success(self.request, f"{merchant.name} is created. Let's set it up.")
        return redirect("merchants:onboarding", merchant_slug=merchant.slug)


# --- the portal -----------------------------------------------------------------------------


class PortalView(MerchantViewMixin, TemplateView):
    """Base page under /m/<slug>/: tenant resolved, permission checked, ``nav`` names the menu entry."""

    nav = ""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["nav"] = self.nav
        return context

    def render_page(self, status: int = 200, **context):
        return self.render_to_response(self.get_context_data(**context), status=status)


def onboarding_progress(merchant) -> dict:
    """Where the merchant is in the set-up, for the home page nudge."""
    index = ONBOARDING_STEPS.index(merchant.onboarding_step)
    return {
        "finished": merchant.onboarding_step == OnboardingStep.DONE,
        "number": index + 1,
        "total": len(ONBOARDING_STEPS),
        "label": OnboardingStep(merchant.onboarding_step).label,
    }


class OnboardingView(PortalView):
    """The set-up wizard: profile → stores → sales data → done. ``Merchant.onboarding_step`` is the furthest
    step reached, so the wizard resumes there; finished steps stay reachable from the stepper."""

    permission = Perm.MANAGE_SETTINGS
    nav = "home"

    def dispatch(self, request, *args, **kwargs):
        step = kwargs.get("step")
        if step is not None and step not in OnboardingStep.values:
            raise Http404("No such onboarding step.")
        return super().dispatch(request, *args, **kwargs)

    def get_template_names(self):
        return [f"merchants/onboarding/{self.kwargs['step']}.html"]

    def step_url(self, step: str) -> str:
        return reverse("merchants:onboarding-step", kwargs={"merchant_slug": self.merchant.slug, "step": step})

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        current = self.kwargs["step"]
        reached = ONBOARDING_STEPS.index(self.merchant.onboarding_step)
        all_done = self.merchant.onboarding_step == OnboardingStep.DONE
        context["steps"] = [
            {
                "value": step.value,
                "label": step.label,
                "number": number,
                "current": step == current,
                "done": all_done or number - 1 < reached,
                "url": self.step_url(step) if number - 1 <= reached else None,
            }
            for number, step in enumerate(ONBOARDING_STEPS, start=1)
        ]
        context["step"] = current
        return context

    def advance_to(self, step: str):
        services.merchant_advance_onboarding(merchant=self.merchant, step=step)
        return redirect(self.step_url(step))

    def get(self, request, *args, **kwargs):
        step = kwargs.get("step")
        if step is None:
            resume = self.merchant.onboarding_step
            return redirect(self.step_url(OnboardingStep.PROFILE if resume == OnboardingStep.DONE else resume))
        if step == OnboardingStep.DONE:
            return self.finish()
        return getattr(self, f"get_{step}")()

    def post(self, request, *args, **kwargs):
        step = kwargs.get("step")
        if step is None:
            return redirect(self.step_url(self.merchant.onboarding_step))
        if step == OnboardingStep.DONE:
            return self.finish()
        return getattr(self, f"post_{step}")()

    # step 1: brand profile
    def get_profile(self, form=None, status=200):
        return self.render_page(
            status=status,
            form=form or MerchantProfileForm(merchant=self.merchant),
            # Until the profile is saved once, the time zone is only the default: offer the browser's.
            guess_timezone=self.merchant.onboarding_step == OnboardingStep.PROFILE,
        )

    def post_profile(self):
        form = MerchantProfileForm(self.request.POST, merchant=self.merchant)
        if not form.is_valid():
            return self.get_profile(form)
        try:
            services.merchant_update(
                merchant=self.merchant, actor=self.request.user, request=self.request, **form.cleaned_data
            )
        except ValidationError as error:
            apply_service_error(form, error)
            return self.get_profile(form)
        messages.success(self.request, "Brand profile saved.")
        return self.advance_to(OnboardingStep.STORES)

    # step 2: stores (the form posts to the stores app, which sends the user back here)
    def get_stores(self):
        from stores.forms import StoreForm  # the stores app owns the form; imported late to keep apps decoupled

        here = self.step_url(OnboardingStep.STORES)
        return self.render_page(
            store_form=StoreForm(merchant=self.merchant),
            stores=self.tenant.scope(Store).order_by("code")[:100],
            store_total=self.tenant.scope(Store).count(),
            next_url=here,
        )

    def post_stores(self):
        return self.advance_to(OnboardingStep.DATA)

    # step 3: connect sales data
    def get_data(self, form=None, created=None, status=200):
        response = self.render_page(
            status=status,
            form=form or ApiKeyForm(initial={"name": "First integration"}),
            created=created,
            keys=self.tenant.scope(ApiKey).filter(revoked_at__isnull=True).order_by("-created_at")[:20],
            api_base=self.request.build_absolute_uri("/api/v1/"),
        )
        return no_store(response) if created else response

    def post_data(self):
        if "finish" in self.request.POST:
            return self.finish()
        form = ApiKeyForm(self.request.POST)
        if not form.is_valid():
            return self.get_data(form)
        try:
            api_key, secret = services.api_key_create(
                merchant=self.merchant, actor=self.request.user, request=self.request, **form.cleaned_data
            )
        except ValidationError as error:
            apply_service_error(form, error)
            return self.get_data(form)
        return self.get_data(created={"api_key": api_key, "secret": secret})

    # step 4: done
    def finish(self):
        services.merchant_advance_onboarding(merchant=self.merchant, step=OnboardingStep.DONE)
        messages.success(self.request, f"{self.merchant.name} is set up. Here is what you can do next.")
        return redirect("merchants:home", merchant_slug=self.merchant.slug)


class SettingsView(PortalView):
    """Brand profile: everyone reads it, owners and admins change it (audited by merchant_update)."""

    template_name = "merchants/settings.html"
    permission_by_method = {"POST": Perm.MANAGE_SETTINGS}
    nav = "settings"

    def get(self, request, *args, **kwargs):
        read_only = not self.tenant.has(Perm.MANAGE_SETTINGS)
        return self.render_page(form=MerchantProfileForm(merchant=self.merchant, read_only=read_only))

    def post(self, request, *args, **kwargs):
        form = MerchantProfileForm(request.POST, merchant=self.merchant)
        if form.is_valid():
            before = {name: getattr(self.merchant, name) for name in form.cleaned_data}
            try:
                services.merchant_update(
                    merchant=self.merchant, actor=request.user, request=request, **form.cleaned_data
                )
            except ValidationError as error:
                apply_service_error(form, error)
            else:
                if before == {name: getattr(self.merchant, name) for name in form.cleaned_data}:
                    messages.info(request, "Nothing changed.")
                else:
                    messages.success(request, "Settings saved.")
                return redirect("merchants:settings", merchant_slug=self.merchant.slug)
        return self.render_page(form=form)


# --- members and invitations ----------------------------------------------------------------


class MembersMixin:
    nav = "members"

    @property
    def actor_is_owner(self) -> bool:
        return self.tenant.role == Role.OWNER

    def role_form_kwargs(self) -> dict:
        return {"stores_queryset": self.tenant.scope(Store).order_by("code"), "actor_is_owner": self.actor_is_owner}

    def member_list_url(self) -> str:
        return reverse("merchants:member-list", kwargs={"merchant_slug": self.merchant.slug})


class MemberListView(MembersMixin, PortalView):
    """Everyone sees who is in the team; owners and admins also see invitations and the actions."""

    template_name = "merchants/member_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        ordered_stores = Prefetch("stores", queryset=Store.objects.order_by("code"))
        context["memberships"] = (
            self.tenant.scope(Membership)
            .select_related("user")
            .prefetch_related(ordered_stores)
            .order_by("user__email")
        )
        context["can_manage"] = can_manage = self.tenant.has(Perm.MANAGE_MEMBERS)
        context["actor_is_owner"] = self.actor_is_owner
        if can_manage:
            context["invitations"] = (
                self.tenant.scope(Invitation)
                .filter(accepted_at__isnull=True)
                .select_related("invited_by")
                .prefetch_related(ordered_stores)
                .order_by("-created_at")[:INVITATIONS_SHOWN]
            )
        return context


class InvitationCreateView(MembersMixin, PortalView):
    template_name = "merchants/invitation_form.html"
    permission = Perm.MANAGE_MEMBERS

    def get(self, request, *args, **kwargs):
        return self.render_page(form=InvitationForm(**self.role_form_kwargs()))

    def post(self, request, *args, **kwargs):
        form = InvitationForm(request.POST, **self.role_form_kwargs())
        if form.is_valid():
            try:
                invitation, _token = services.invitation_create(
                    merchant=self.merchant, actor=request.user, request=request, **form.cleaned_data
                )
            except ValidationError as error:
                apply_service_error(form, error)
            else:
                messages.success(
                    request,
                    f"Invitation sent to {invitation.email} as {invitation.get_role_display()}. "
                    f"The link is valid for {services.INVITATION_LIFETIME.days} days.",
                )
                return redirect(self.member_list_url())
        return self.render_page(form=form)


class MemberUpdateView(MembersMixin, PortalView):
    template_name = "merchants/member_form.html"
    permission = Perm.MANAGE_MEMBERS

    def get_membership(self) -> Membership:
        return self.tenant.get_object(Membership.objects.select_related("user"), pk=self.kwargs["pk"])

    def page(self, membership, form, status=200):
        # An admin may see an owner's entry but not change it.
        locked = membership.role == Role.OWNER and not self.actor_is_owner
        return self.render_page(status=status, membership=membership, form=form, locked=locked)

    def get(self, request, *args, **kwargs):
        membership = self.get_membership()
        initial = {"role": membership.role, "stores": list(membership.stores.values_list("pk", flat=True))}
        return self.page(membership, MemberUpdateForm(initial=initial, **self.role_form_kwargs()))

    def post(self, request, *args, **kwargs):
        membership = self.get_membership()
        form = MemberUpdateForm(request.POST, **self.role_form_kwargs())
        if form.is_valid():
            try:
                membership = services.membership_change_role(
                    membership=membership, actor=request.user, request=request, **form.cleaned_data
                )
            except ValidationError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, f"{membership.user} is now {membership.get_role_display()}.")
                return redirect(self.member_list_url())
        return self.page(membership, form)


class MemberRemoveView(MembersMixin, PortalView):
    template_name = "merchants/member_confirm_remove.html"
    permission = Perm.MANAGE_MEMBERS

    def get_membership(self) -> Membership:
        return self.tenant.get_object(Membership.objects.select_related("user"), pk=self.kwargs["pk"])

    def get(self, request, *args, **kwargs):
        membership = self.get_membership()
        locked = membership.role == Role.OWNER and not self.actor_is_owner
        return self.render_page(membership=membership, locked=locked)

    def post(self, request, *args, **kwargs):
        membership = self.get_membership()
        leaving = membership.user_id == request.user.pk
        try:
            services.membership_remove(membership=membership, actor=request.user, request=request)
        except ValidationError as error:
            messages.error(request, error_text(error))
            return redirect(self.member_list_url())
        if leaving:
            request.session.pop(SESSION_LAST_MERCHANT, None)
            messages.success(request, f"You left {self.merchant.name}.")
            return redirect("merchants:home-redirect")
        messages.success(request, f"{membership.user} no longer has access to {self.merchant.name}.")
        return redirect(self.member_list_url())


class InvitationRevokeView(MembersMixin, PortalView):
    """GET asks for confirmation (works without JavaScript); POST revokes. With htmx the row is swapped."""

    template_name = "merchants/invitation_confirm_revoke.html"
    permission = Perm.MANAGE_MEMBERS

    def get_invitation(self) -> Invitation:
        return self.tenant.get_object(
            Invitation.objects.select_related("invited_by").prefetch_related("stores"), pk=self.kwargs["pk"]
        )

    def get(self, request, *args, **kwargs):
        return self.render_page(invitation=self.get_invitation())

    def post(self, request, *args, **kwargs):
        invitation = self.get_invitation()
        services.invitation_revoke(invitation=invitation, actor=request.user, request=request)
        if request.htmx:
            return render(
                request,
                "merchants/_invitation_row.html",
                {"invitation": invitation, "merchant": self.merchant, "can_manage": True, "just_revoked": True},
            )
        messages.success(request, f"The invitation of {invitation.email} is revoked: its link no longer works.")
        return redirect(self.member_list_url())


class InvitationAcceptView(View):
    """Token-addressed: the invitee accepts as a signed-in user, after logging in, or by creating an account."""

    def dispatch(self, request, *args, **kwargs):
        self.invitation = services.invitation_get_by_token(kwargs["token"])
        if self.invitation is None:
            return render(request, "merchants/invitation_invalid.html", {"state": "unknown"}, status=404)
        return super().dispatch(request, *args, **kwargs)

    def page(self, template: str, status: int = 200, **context):
        context.update(invitation=self.invitation, invited_merchant=self.invitation.merchant)
        return render(self.request, f"merchants/{template}", context, status=status)

    def refusal(self):
        """The page for anything but a pending invitation the current visitor may accept, or None."""
        invitation, user = self.invitation, self.request.user
        if not invitation.is_pending:
            if (
                user.is_authenticated
                and Membership.objects.for_merchant(invitation.merchant).filter(user=user).exists()
            ):
                messages.info(self.request, f"You are already a member of {invitation.merchant.name}.")
                return redirect("merchants:home", merchant_slug=invitation.merchant.slug)
            return self.page("invitation_invalid.html", status=410, state=invitation.state)
        if user.is_authenticated and user.email.lower() != invitation.email.lower():
            return self.page("invitation_wrong_user.html", status=403)
        return None

    def get(self, request, *args, **kwargs):
        if refused := self.refusal():
            return refused
        if request.user.is_authenticated:
            return self.page("invitation_accept.html")
        if User.objects.filter(email__iexact=self.invitation.email).exists():
            return self.page("invitation_login.html", login_url=login_url_for(self.invitation.email, request.path))
        return self.page("invitation_signup.html", form=InvitationSignUpForm(email=self.invitation.email))

    def post(self, request, *args, **kwargs):
        if refused := self.refusal():
            return refused
        if request.user.is_authenticated:
            try:
                membership = services.invitation_accept(invitation=self.invitation, user=request.user, request=request)
            except ValidationError as error:
                messages.error(request, error_text(error))
                return redirect(request.path)
            return self.welcome(membership)
        if User.objects.filter(email__iexact=self.invitation.email).exists():
            return redirect(request.path)  # the GET page asks them to log in first
        form = InvitationSignUpForm(request.POST, email=self.invitation.email)
        if form.is_valid():
            try:
                user, membership = services.invitation_accept_new_user(
                    invitation=self.invitation, request=request, **form.cleaned_data
                )
            except ValidationError as error:
                apply_service_error(form, error)
            except IntegrityError:  # the account was created a moment ago, in another request
                return redirect(request.path)
            else:
                login(request, user, backend=MODEL_BACKEND)
                return self.welcome(membership)
        return self.page("invitation_signup.html", form=form)

    def welcome(self, membership):
        merchant = self.invitation.merchant
        remember_merchant(self.request, merchant)
        messages.success(self.request, f"Welcome to {merchant.name}! You joined as {membership.get_role_display()}.")
        return redirect("merchants:home", merchant_slug=merchant.slug)


# --- API keys -------------------------------------------------------------------------------


class ApiKeyListView(PortalView):
    template_name = "merchants/apikey_list.html"
    permission = Perm.MANAGE_KEYS
    nav = "apikeys"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["api_keys"] = self.tenant.scope(ApiKey).select_related("created_by").order_by("-created_at")
        return context


class ApiKeyCreateView(PortalView):
    """The secret is in the response to the POST only: never stored, never redirected to, not cached."""

    template_name = "merchants/apikey_form.html"
    permission = Perm.MANAGE_KEYS
    nav = "apikeys"

    def get(self, request, *args, **kwargs):
        return self.render_page(form=ApiKeyForm())

    def post(self, request, *args, **kwargs):
        form = ApiKeyForm(request.POST)
        if form.is_valid():
            try:
                api_key, secret = services.api_key_create(
                    merchant=self.merchant, actor=request.user, request=request, **form.cleaned_data
                )
            except ValidationError as error:
                apply_service_error(form, error)
            else:
                response = render(
                    request,
                    "merchants/apikey_created.html",
                    self.get_context_data(
                        api_key=api_key, secret=secret, api_base=request.build_absolute_uri("/api/v1/")
                    ),
                )
                return no_store(response)
        return self.render_page(form=form)


class ApiKeyRevokeView(PortalView):
    template_name = "merchants/apikey_confirm_revoke.html"
    permission = Perm.MANAGE_KEYS
    nav = "apikeys"

    def get_api_key(self) -> ApiKey:
        return self.tenant.get_object(ApiKey.objects.select_related("created_by"), pk=self.kwargs["pk"])

    def get(self, request, *args, **kwargs):
        return self.render_page(api_key=self.get_api_key())

    def post(self, request, *args, **kwargs):
        api_key = services.api_key_revoke(api_key=self.get_api_key(), actor=request.user, request=request)
        if request.htmx:
            return render(
                request,
                "merchants/_apikey_row.html",
                {"api_key": api_key, "merchant": self.merchant, "just_revoked": True},
            )
        messages.success(request, f"{api_key} is revoked: requests with it are now refused.")
        return redirect("merchants:apikey-list", merchant_slug=self.merchant.slug)


# --- audit log ------------------------------------------------------------------------------


class AuditListView(MerchantViewMixin, ListView):
    """The merchant's security events, newest first. Failed sign-ins have no merchant and are not shown."""

    template_name = "merchants/audit_list.html"
    permission = Perm.VIEW_AUDIT
    paginate_by = AUDIT_PAGE_SIZE
    context_object_name = "events"

    def get_queryset(self):
        self.filter_form = AuditFilterForm(self.request.GET or None)
        events = self.tenant.scope(AuditEvent).select_related("actor", "api_key")
        if self.filter_form.is_valid() and (action := self.filter_form.cleaned_data["action"]):
            events = events.filter(action=action)
        return events.order_by("-created_at", "-id")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(filter_form=self.filter_form, nav="audit")
        querystring = self.request.GET.copy()
        querystring.pop("page", None)
        context["filter_querystring"] = querystring.urlencode()
        return context
