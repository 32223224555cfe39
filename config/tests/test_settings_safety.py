"""Configuration fails closed: APP_ENV is required, and production refuses each dangerous setting at start-up."""

from __future__ import annotations

import json

import pytest

from ballast.lib.settings_safety import COMMITTED_SECRETS, configuration_problems
from config.tests.processes import PROD_FIELD_ENCRYPTION_KEY, PROD_SECRET_KEY, dsn, manage, prod_env, run

SAFE_PROD = {
    "APP_ENV": "prod",
    "DEBUG": False,
    "SECRET_KEY": PROD_SECRET_KEY,
    "ALLOWED_HOSTS": ["ballast.example.com"],
    "DATABASES": {"default": {"USER": "app"}, "system": {"USER": "sys"}, "owner": {"USER": "own"}},
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS": False,
    "JOBS_DIAGNOSTICS": False,
    "FIELD_ENCRYPTION_KEYS": [PROD_FIELD_ENCRYPTION_KEY],
    "QUEUE_PROCESS_SECRET": "",
    "METRICS_TOKEN": "",
    "HEALTH_TOKEN": "",
    "CSRF_TRUSTED_ORIGINS": ["https://ballast.example.com", "https://*.ballast.example.com"],
    "SECURE_SSL_REDIRECT": True,
    "SECURE_HSTS_SECONDS": 31_536_000,
    "SECURE_PROXY_SSL_HEADER": None,
    "TLS_TERMINATED_BY_PROXY": False,
}
A_TOKEN = "Zq8rT2vXk4LmN7pWs1YbC6dHf9GjA3eRu5"  # 34 characters, random
BEHIND_A_TLS_PROXY = {"TLS_TERMINATED_BY_PROXY": True, "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")}


def test_a_safe_production_configuration_has_no_problems() -> None:
    assert configuration_problems(SAFE_PROD) == []
    without_owner = {"default": {"USER": "app"}, "system": {"USER": "sys"}}  # web and worker processes
    assert configuration_problems({**SAFE_PROD, "DATABASES": without_owner}) == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"DEBUG": True}, "DEBUG must be false"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"SECRET_KEY": "dev-insecure-" + "x" * 60}, "SECRET_KEY"),
        ({"SECRET_KEY": "ab" * 40}, "SECRET_KEY"),
        ({"ALLOWED_HOSTS": ["*"]}, "ALLOWED_HOSTS"),
        ({"ALLOWED_HOSTS": []}, "ALLOWED_HOSTS"),
        ({"DATABASES": {"default": {"USER": "a"}, "system": {"USER": "a"}}}, "three distinct roles"),
        ({"DATABASES": {"default": {"USER": "own"}, "system": {"USER": "s"}, "owner": {"USER": "own"}}}, "app role"),
        ({"DATABASES": {"default": {"USER": "postgres"}, "system": {"USER": "s"}}}, "not a superuser"),
        ({"WEBHOOK_ALLOW_PRIVATE_NETWORKS": True}, "WEBHOOK_ALLOW_PRIVATE_NETWORKS"),
        ({"JOBS_DIAGNOSTICS": True}, "JOBS_DIAGNOSTICS"),
        ({"FIELD_ENCRYPTION_KEYS": []}, "FIELD_ENCRYPTION_KEY is required"),
        ({"FIELD_ENCRYPTION_KEYS": ["not-a-fernet-key"]}, "FIELD_ENCRYPTION_KEY must be Fernet keys"),
        ({"QUEUE_PROCESS_SECRET": "cron"}, "QUEUE_PROCESS_SECRET"),
        ({"QUEUE_PROCESS_SECRET": "a" * 40}, "QUEUE_PROCESS_SECRET"),
        ({"SECRET_KEY": "dev-insecure-secret-key-not-for-production"}, "SECRET_KEY must be"),
        ({"SECRET_KEY": "abcde" * 10}, "SECRET_KEY must be"),
        ({"SECRET_KEY": "abcdefghij" * 5}, "SECRET_KEY must be"),
        ({"SECRET_KEY": "ddaceddcdcebebcbaeceebcaacdeacdcebeddecaeaadaedcbc"}, "estimated entropy is 114 bits"),
        ({"METRICS_TOKEN": "ddaceddcdcebebcbaeceebcaacdeacdc"}, "estimated entropy is 73 bits"),
        (
            {"FIELD_ENCRYPTION_KEYS": ["ZGV2LWNpLW9ubHktZmllbGQtZW5jcnlwdGlvbi1rZXk="]},
            "FIELD_ENCRYPTION_KEY must not be",
        ),
        (
            {"FIELD_ENCRYPTION_KEYS": [PROD_FIELD_ENCRYPTION_KEY, "ZGV2LWNpLW9ubHktZmllbGQtZW5jcnlwdGlvbi1rZXk="]},
            "FIELD_ENCRYPTION_KEY must not be",
        ),
        ({"METRICS_TOKEN": "x"}, "METRICS_TOKEN must be"),
        ({"METRICS_TOKEN": A_TOKEN[:31]}, "METRICS_TOKEN must be"),
        ({"HEALTH_TOKEN": "x"}, "HEALTH_TOKEN must be"),
        ({"HEALTH_TOKEN": "ab" * 20}, "HEALTH_TOKEN must be"),
        ({"CSRF_TRUSTED_ORIGINS": ["http://*"]}, "CSRF_TRUSTED_ORIGINS must name real origins"),
        ({"CSRF_TRUSTED_ORIGINS": ["https://*"]}, "CSRF_TRUSTED_ORIGINS must name real origins"),
        ({"CSRF_TRUSTED_ORIGINS": ["https://*.com"]}, "CSRF_TRUSTED_ORIGINS must name real origins"),
        ({"CSRF_TRUSTED_ORIGINS": ["*"]}, "CSRF_TRUSTED_ORIGINS must name real origins"),
        ({"SECURE_SSL_REDIRECT": False}, "SECURE_SSL_REDIRECT must be true"),
        ({"SECURE_HSTS_SECONDS": 0}, "SECURE_HSTS_SECONDS must be positive"),
        ({"TLS_TERMINATED_BY_PROXY": True, "SECURE_SSL_REDIRECT": False}, "TLS_TERMINATED_BY_PROXY=true needs"),
    ],
)
def test_each_dangerous_production_setting_is_refused_by_name(change: dict, named: str) -> None:
    problems = configuration_problems({**SAFE_PROD, **change})

    assert any(named in problem for problem in problems), problems


def test_tokens_of_32_random_characters_and_tls_ended_at_a_trusted_proxy_are_accepted() -> None:
    tokens = {"METRICS_TOKEN": A_TOKEN, "HEALTH_TOKEN": A_TOKEN[::-1], "QUEUE_PROCESS_SECRET": A_TOKEN[:32]}
    proxy_does_tls = {**BEHIND_A_TLS_PROXY, "SECURE_SSL_REDIRECT": False, "SECURE_HSTS_SECONDS": 0}

    assert configuration_problems({**SAFE_PROD, **tokens}) == []
    assert configuration_problems({**SAFE_PROD, **proxy_does_tls}) == []


def test_the_values_committed_as_dev_and_ci_defaults_are_the_ones_production_refuses() -> None:
    shown = run(
        [
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.SECRET_KEY); print(s.FIELD_ENCRYPTION_KEYS[0])",
        ],
        {"APP_ENV": "ci", "DJANGO_SETTINGS_MODULE": "config.settings"},
    )

    assert shown.returncode == 0, shown.stderr[-2000:]
    assert set(shown.stdout.split()) <= COMMITTED_SECRETS


def test_dev_and_ci_are_not_held_to_production_rules() -> None:
    assert configuration_problems({**SAFE_PROD, "APP_ENV": "ci", "DEBUG": True, "SECRET_KEY": "x"}) == []


def test_without_app_env_nothing_starts_and_the_message_names_it() -> None:
    result = manage("check", env={})

    assert result.returncode != 0
    assert "APP_ENV is not set" in result.stderr


def test_an_unknown_app_env_is_refused() -> None:
    result = manage("check", env={"APP_ENV": "staging"})

    assert result.returncode != 0
    assert "APP_ENV must be one of dev, ci, prod" in result.stderr


def test_prod_without_a_secret_key_refuses_to_start() -> None:
    result = manage("check", env={"APP_ENV": "prod"})

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


# Each row: what a deployment gets wrong, and the words the refusal must contain. Run for real: `manage.py check`.
REFUSALS: dict[str, tuple[dict[str, str | None], str]] = {
    "debug": ({"DEBUG": "true"}, "DEBUG must be false"),
    "weak_secret_key": ({"SECRET_KEY": "dev-insecure-secret-key-not-for-production"}, "SECRET_KEY must be"),
    "any_host": ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS"),
    "shared_roles": ({"POSTGRES_SYSTEM_DSN": "__app__"}, "three distinct roles"),
    "private_networks": ({"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true"}, "WEBHOOK_ALLOW_PRIVATE_NETWORKS must be false"),
    "diagnostics": ({"JOBS_DIAGNOSTICS": "true"}, "JOBS_DIAGNOSTICS must be false"),
    "no_encryption_key": ({"FIELD_ENCRYPTION_KEY": None}, "FIELD_ENCRYPTION_KEY is required"),
    "bad_encryption_key": ({"FIELD_ENCRYPTION_KEY": "secret"}, "FIELD_ENCRYPTION_KEY must be Fernet keys"),
    "short_queue_secret": ({"QUEUE_PROCESS_SECRET": "cron-secret"}, "QUEUE_PROCESS_SECRET must be"),
    "committed_encryption_key": (
        {"FIELD_ENCRYPTION_KEY": "ZGV2LWNpLW9ubHktZmllbGQtZW5jcnlwdGlvbi1rZXk="},
        "FIELD_ENCRYPTION_KEY must not be the development key",
    ),
    "patterned_secret_key": ({"SECRET_KEY": "abcde" * 10}, "SECRET_KEY must be"),
    "short_tokens": ({"METRICS_TOKEN": "x", "HEALTH_TOKEN": "x"}, "METRICS_TOKEN must be"),
    "wildcard_csrf_origin": ({"CSRF_TRUSTED_ORIGINS": "http://*"}, "CSRF_TRUSTED_ORIGINS must name real origins"),
    "tls_off": ({"SECURE_SSL_REDIRECT": "false", "SECURE_HSTS_SECONDS": "0"}, "SECURE_SSL_REDIRECT must be true"),
    "app_role_bypasses_rls": (
        {"POSTGRES_DSN": "__system__", "POSTGRES_SYSTEM_DSN": "__app__"},
        "(POSTGRES_DSN) has BYPASSRLS",
    ),
    "app_role_owns_the_tables": ({"POSTGRES_DSN": "__owner__"}, "(POSTGRES_DSN) owns"),
}


def _resolve(change: dict[str, str | None]) -> dict[str, str | None]:
    logins = {"__app__": "default", "__system__": "system", "__owner__": "owner"}
    return {name: dsn("default", user_of=logins[value]) if value in logins else value for name, value in change.items()}


@pytest.mark.usefixtures("committed")
@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_production_refuses_to_start_with_each_dangerous_configuration(case: str) -> None:
    change, named = REFUSALS[case]

    result = manage("check", env=prod_env(**_resolve(change)))

    assert result.returncode != 0, result.stdout
    assert named in result.stderr, result.stderr[-2000:]


@pytest.mark.usefixtures("committed")
def test_a_safe_production_configuration_passes_check_deploy_without_a_warning() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=prod_env())

    assert result.returncode == 0, result.stderr[-3000:]
    assert "no issues" in result.stdout


SHOW_SETTINGS = (
    "import json, django; django.setup(); from django.conf import settings as s; print(json.dumps({"
    "'hsts': s.SECURE_HSTS_SECONDS, 'redirect': s.SECURE_SSL_REDIRECT, 'session': s.SESSION_COOKIE_SECURE, "
    "'csrf': s.CSRF_COOKIE_SECURE, 'proxy': s.SECURE_PROXY_SSL_HEADER, 'debug': s.DEBUG, "
    "'aliases': sorted(s.DATABASES)}))"
)


def _settings_of(env: dict[str, str]) -> dict:
    result = run(["-c", SHOW_SETTINGS], {**env, "DJANGO_SETTINGS_MODULE": "config.settings"})
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


@pytest.mark.usefixtures("committed")
def test_production_sends_hsts_redirects_to_https_and_sets_secure_cookies() -> None:
    shown = _settings_of(prod_env())

    assert shown["hsts"] >= 31_536_000
    assert shown["redirect"] is True
    assert shown["session"] is True and shown["csrf"] is True
    assert shown["debug"] is False


@pytest.mark.usefixtures("committed")
def test_x_forwarded_proto_is_trusted_only_behind_a_declared_proxy() -> None:
    assert _settings_of(prod_env())["proxy"] is None
    assert _settings_of(prod_env(TRUSTED_PROXY="true"))["proxy"] == ["HTTP_X_FORWARDED_PROTO", "https"]


@pytest.mark.usefixtures("committed")
def test_the_owner_alias_exists_only_where_the_owner_dsn_is_given() -> None:
    assert _settings_of(prod_env())["aliases"] == ["default", "system"]
    assert _settings_of(prod_env(POSTGRES_OWNER_DSN=dsn("owner")))["aliases"] == ["default", "owner", "system"]


@pytest.mark.usefixtures("committed")
def test_a_production_web_process_refuses_to_start_with_the_owner_dsn() -> None:
    safe = run(["-c", "import config.wsgi"], prod_env())
    with_owner = run(["-c", "import config.wsgi"], prod_env(POSTGRES_OWNER_DSN=dsn("owner")))

    assert safe.returncode == 0, safe.stderr[-2000:]
    assert with_owner.returncode != 0
    assert "POSTGRES_OWNER_DSN" in with_owner.stderr


@pytest.mark.usefixtures("committed")
def test_a_production_web_process_refuses_an_app_role_that_bypasses_row_level_security() -> None:
    result = run(["-c", "import config.wsgi"], prod_env(**_resolve(REFUSALS["app_role_bypasses_rls"][0])))

    assert result.returncode != 0
    assert "BYPASSRLS" in result.stderr
