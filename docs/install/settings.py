# Ballast: its settings and their defaults (APP_ENV picks them: dev, ci or prod; prod when unset).
from ballast.settings import *
from ballast.settings import BALLAST_APPS
from ballast.settings.environment import env

INSTALLED_APPS += ["rest_framework", "drf_spectacular", *BALLAST_APPS, "shop"]
MIDDLEWARE.insert(1, "ballast.api.correlation.CorrelationMiddleware")  # after SecurityMiddleware
MIDDLEWARE.insert(1, "ballast.api.content_security.ContentSecurityPolicyMiddleware")  # CONTENT_SECURITY_POLICY
# The admin's login, throttled after failures (ADMIN_LOGIN_FAILURE_RATE): after the session is known.
MIDDLEWARE.append("ballast.api.login_throttle.AdminLoginThrottleMiddleware")

# Three roles: the app role (row-level security applies), the system role (BYPASSRLS, for code that crosses
# tenants and says so) and, for `migrate` only, the schema owner.
DATABASES = {
    "default": env.db_url("POSTGRES_DSN"),
    "system": env.db_url("POSTGRES_SYSTEM_DSN"),
}
if env.str("POSTGRES_OWNER_DSN", default=""):
    DATABASES["owner"] = env.db_url("POSTGRES_OWNER_DSN")
DATABASE_ROUTERS = ["ballast.tenants.db_router.DatabaseRouter"]
