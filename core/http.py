"""Request helpers shared by pages."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next_url(request: HttpRequest) -> str | None:
    """The ``next`` parameter (POST first, then GET) if it points back into this site, else None.

    Lets a flow (the onboarding wizard) send a user to a page and get them back, without becoming an
    open redirect.
    """
    candidate = request.POST.get("next") or request.GET.get("next")
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return None
