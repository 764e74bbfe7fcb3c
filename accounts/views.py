"""Sign up, sign in and password pages. Django's auth views do the work; these set templates and flows."""

from __future__ import annotations

from axes.utils import reset as axes_reset
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.db import IntegrityError
from django.shortcuts import redirect
from django.urls import reverse_lazy
from django.views.generic import FormView

from merchants.services import user_sign_up
from merchants.views import MODEL_BACKEND, remember_merchant

from .forms import EmailAuthenticationForm, SignUpForm


class SignUpView(FormView):
    template_name = "accounts/signup.html"
    form_class = SignUpForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            messages.info(request, "You already have an account. Add another brand here.")
            return redirect("merchants:merchant-create")
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            user, merchant = user_sign_up(
                email=data["email"],
                password=data["password"],
                brand_name=data["brand_name"],
                full_name=data["full_name"],
                request=self.request,
            )
        except IntegrityError:
            # The same address signed up a moment ago (the form checked, the database decides).
            form.add_error(
                "email", "An account with this e-mail address already exists. Log in, or reset your password."
            )
            return self.form_invalid(form)
        login(self.request, user, backend=MODEL_BACKEND)
        remember_merchant(self.request, merchant)
        messages.success(self.request, f"Welcome to NewRetail! Let's set up {merchant.name}: it takes a few minutes.")
        return redirect("merchants:onboarding", merchant_slug=merchant.slug)


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def get_initial(self):
        # An invitation page sends "log in as <address>": fill it in.
        initial = super().get_initial()
        if email := self.request.GET.get("email"):
            initial["username"] = email[:254]
        return initial


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password-reset-done")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password-reset-complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        # Proving control of the mailbox lifts a brute-force lock-out on the address.
        axes_reset(username=form.user.email)
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change_form.html"
    success_url = reverse_lazy("accounts:password-change-done")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, "Your password has been changed.")
        return response
