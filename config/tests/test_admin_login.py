"""Repeated failed logins to the Django admin, from one address or for one user, are refused for a while (429
with Retry-After), counted in Redis like the API's throttle, which fails open when Redis is down."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from ballast.jobs.tests.conftest import redis  # noqa: F401  (fixture)
from ballast.lib import redis_client

PASSWORD = "pw-for-tests-only-4f1c"
LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def root(committed: None, redis: Any) -> Any:  # noqa: F811
    return get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)


@pytest.fixture(autouse=True)
def closed_breaker() -> Iterator[None]:
    yield
    redis_client.REQUEST_BREAKER.reset()


def attempt(password: str, *, user: str = "root", address: str = "198.51.100.20") -> Any:
    return Client().post(LOGIN, {"username": user, "password": password}, REMOTE_ADDR=address)


@pytest.mark.usefixtures("root")
def test_failed_logins_from_one_address_are_refused_after_the_limit_even_with_the_right_password(settings) -> None:
    settings.ADMIN_LOGIN_FAILURE_RATE = "3/15m"

    failures = [attempt("wrong").status_code for _ in range(3)]
    refused = attempt(PASSWORD)

    assert failures == [200, 200, 200]  # the login form again, with its error
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 60
    assert "Too many failed logins" in refused.content.decode()
    assert attempt(PASSWORD, address="198.51.100.21").status_code == 429  # the account is locked too


@pytest.mark.usefixtures("root")
def test_failures_for_one_user_lock_that_user_from_every_address(settings) -> None:
    settings.ADMIN_LOGIN_FAILURE_RATE = "3/15m"

    for n in range(3):
        attempt("wrong", address=f"203.0.113.{n + 1}")

    assert attempt(PASSWORD, address="203.0.113.50").status_code == 429
    assert attempt("wrong", user="someone-else", address="203.0.113.51").status_code == 200


@pytest.mark.usefixtures("root")
def test_a_successful_login_below_the_limit_goes_through(settings) -> None:
    settings.ADMIN_LOGIN_FAILURE_RATE = "3/15m"
    attempt("wrong")

    response = attempt(PASSWORD)

    assert response.status_code == 302 and response["Location"] == "/admin/"


@pytest.mark.usefixtures("root")
def test_the_login_throttle_fails_open_when_redis_is_down(settings) -> None:
    settings.ADMIN_LOGIN_FAILURE_RATE = "1/15m"
    settings.REDIS_DSN = "redis://127.0.0.1:1/0"

    answers = [attempt("wrong").status_code for _ in range(3)]

    assert answers == [200, 200, 200]
    assert attempt(PASSWORD).status_code == 302
