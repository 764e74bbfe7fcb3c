"""``RecommendationsFastPathMiddleware``: a cached answer of ``GET /api/v1/recommendations/`` without the rest of
the middleware stack, the URL resolver or DRF.

First in ``MIDDLEWARE``. For that one path it asks ``recommendations.api.recommendations_fast`` (the process's key
cache and one Redis round trip; see there for what makes it decline). When it answers, the response gets exactly
what the stack would have added, by the same code: ``SecurityMiddleware``'s HTTPS redirect (then the stack
answers) and headers, ``XFrameOptionsMiddleware``'s header, ``CommonMiddleware``'s ``Content-Length``, and an
invalid ``Host`` is left to the stack (400). Everything else — a miss, an error, another path — goes down the
stack unchanged; a request the fast path already counted in the throttle is not counted again.
"""

from __future__ import annotations

from django.core.exceptions import DisallowedHost
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import reverse

from .api import recommendations_fast


class RecommendationsFastPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.security = SecurityMiddleware(get_response)
        self.frame_options = XFrameOptionsMiddleware(get_response)
        self.path: str | None = None

    def __call__(self, request):
        if self.path is None:
            self.path = reverse("api:recommendation-list")
        if request.method == "GET" and request.path == self.path:
            response = self.answer(request)
            if response is not None:
                return response
        return self.get_response(request)

    def answer(self, request):
        if self.security.process_request(request) is not None:
            return None  # to HTTPS first: the stack redirects
        try:
            request.get_host()
        except DisallowedHost:
            return None  # the stack answers 400
        response = recommendations_fast(request)
        if response is None:
            return None
        response.headers["Content-Length"] = str(len(response.content))
        return self.security.process_response(request, self.frame_options.process_response(request, response))
