"""Sign-up and sign-in forms. The user signs in with an e-mail address (case-insensitive)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import AuthenticationForm

User = get_user_model()

# The rules of AUTH_PASSWORD_VALIDATORS, in one sentence (Django's own help is a four-item list).
PASSWORD_HELP = "At least 8 characters. Not a common password, not only digits, and not like your e-mail or name."  # noqa: S105


def email_input(**attrs) -> forms.EmailInput:
    return forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false", **attrs})


def new_password_input() -> forms.PasswordInput:
    return forms.PasswordInput(attrs={"autocomplete": "new-password"})


class EmailAuthenticationForm(AuthenticationForm):
    """Django's sign-in form with the username field presented as the e-mail address.

    The field keeps the name ``username``: django-axes reads it to count failures per address.
    """

    username = forms.EmailField(label="E-mail address", max_length=254, widget=email_input(autofocus=True))

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That e-mail address and password don't match. Check them, or reset your password.",
    }


class SignUpForm(forms.Form):
    email = forms.EmailField(label="E-mail address", max_length=254, widget=email_input(autofocus=True))
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=new_password_input(),
        help_text=PASSWORD_HELP,
    )
    brand_name = forms.CharField(
        label="Brand name", max_length=150, help_text="The name of your shop or chain. You can change it later."
    )
    full_name = forms.CharField(
        label="Your name",
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
        help_text="Optional: shown to colleagues you invite.",
    )

    field_order = ["email", "password", "brand_name", "full_name"]

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"]).lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "An account with this e-mail address already exists. Log in, or reset your password.",
                code="duplicate_email",
            )
        return email

    def clean_brand_name(self) -> str:
        name = self.cleaned_data["brand_name"].strip()
        if not name:
            raise forms.ValidationError("Enter your brand name.", code="required")
        return name

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            # Validate against the would-be user, so "similar to your e-mail" is caught too.
            candidate = User(email=cleaned.get("email", ""), full_name=cleaned.get("full_name", ""))
            try:
                password_validation.validate_password(password, user=candidate)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned
