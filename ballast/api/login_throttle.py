"""The Django admin's login, throttled: after ADMIN_LOGIN_FAILURE_RATE failed logins ("5/15min") from one client
address, or for one username, both are refused with 429 and Retry-After until the oldest failure leaves the
window, whatever the password. Counted in Redis (ballast.api.throttling), failing open when Redis is down: the
password check still stands, so the throttle is a brake on guessing, not the lock itself.

A failure is a POST to the login page answered by the form again (200); a success is its redirect.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse

from ballast.api import throttling

PREFIX = f"{throttling.KEY_PREFIX}admin_login:"


def _keys(request: HttpRequest) -> list[str]:
    username = str(request.POST.get("username", "")).strip().lower()
    digest = hashlib.sha256(username.encode()).hexdigest()[:32]
    return [f"ip:{throttling.client_address(request)}", f"user:{digest}"]


def _login_path() -> str | None:
    try:
        return reverse("admin:login")
    except NoReverseMatch:
        return None


class AdminLoginThrottleMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rate = str(getattr(settings, "ADMIN_LOGIN_FAILURE_RATE", "") or "")
        if not rate or request.method != "POST" or request.path != _login_path():
            return self.get_response(request)
        keys = _keys(request)
        waits = [wait for key in keys if (wait := throttling.blocked_for(f"{PREFIX}block:{key}")) is not None]
        if waits:
            return _refused(max(waits))
        response = self.get_response(request)
        if response.status_code == 200:  # the form again: the credentials were refused
            for key in keys:
                _count_failure(key, rate)
        return response


def _count_failure(key: str, rate: str) -> None:
    """One more failure; the one that reaches the limit blocks the key until the oldest leaves the window."""
    limit, seconds = throttling.parse_rate(rate)
    wait: float | None = float(seconds)
    if limit > 1:
        # The window admits limit-1 failures; the limit-th is the one it refuses.
        wait = throttling.hit(f"{PREFIX}failures:{key}", f"{limit - 1}/{seconds}s")
    if wait is not None:
        throttling.block(f"{PREFIX}block:{key}", wait)


def _refused(wait: float) -> HttpResponse:
    minutes = max(1, math.ceil(wait / 60))
    response = HttpResponse(
        f"Too many failed logins from this address or for this account. Try again in {minutes} minute(s).\n",
        status=429,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = str(max(1, math.ceil(wait)))
    return response
