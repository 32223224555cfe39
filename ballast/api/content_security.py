"""The Content-Security-Policy header on every response (CONTENT_SECURITY_POLICY): scripts, styles and every
other resource from the app's own origin only, no plugins, no framing, forms posted to the app only. Ballast's
pages (the admin, the consoles, the uploads demo) serve their scripts and styles as static files, so the policy
needs no 'unsafe-inline'. A view that needs another policy sets the header itself (`with_policy`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = str(getattr(settings, "CONTENT_SECURITY_POLICY", "") or "")
        if policy and HEADER not in response:
            response[HEADER] = policy
        return response


def with_policy(view: Callable[..., Any], policy: str) -> Callable[..., Any]:
    """`view`, answering with `policy` instead of CONTENT_SECURITY_POLICY."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = view(request, *args, **kwargs)
        response[HEADER] = policy
        return response

    return wrapped
