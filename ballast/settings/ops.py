"""Operator consoles (ops app): alert thresholds, where alert events go, the /metrics token."""

from __future__ import annotations

from ballast.settings.environment import APP_ENV, env

__all__ = [
    "METRICS_CACHE_SECONDS",
    "METRICS_TENANT_LABELS",
    "METRICS_TOKEN",
    "OPS_ALERT_DEAD_LETTERS_PER_10_MIN",
    "OPS_ALERT_EMAILS",
    "OPS_ALERT_FAILURE_RATE",
    "OPS_ALERT_FAILURE_WINDOW_MINUTES",
    "OPS_ALERT_OLDEST_DUE_SECONDS",
    "OPS_ALERT_OUTBOX_LAG_SECONDS",
    "OPS_EVENTS_TENANT",
    "OPS_REPORT_EMAILS",
]

# Alert rules, evaluated each minute by the scheduler's leader (ops.alerts).
OPS_ALERT_OLDEST_DUE_SECONDS: int = env.int("OPS_ALERT_OLDEST_DUE_SECONDS", default=300)
OPS_ALERT_FAILURE_RATE: float = env.float("OPS_ALERT_FAILURE_RATE", default=0.2)
OPS_ALERT_FAILURE_WINDOW_MINUTES: int = env.int("OPS_ALERT_FAILURE_WINDOW_MINUTES", default=15)
OPS_ALERT_DEAD_LETTERS_PER_10_MIN: int = env.int("OPS_ALERT_DEAD_LETTERS_PER_10_MIN", default=5)
OPS_ALERT_OUTBOX_LAG_SECONDS: int = env.int("OPS_ALERT_OUTBOX_LAG_SECONDS", default=120)
# Platform-wide alerts (no tenant of their own) are emitted as outbox events of this tenant (slug), so its
# webhooks can page someone. Empty: only alerts about one tenant are emitted, as that tenant's events.
OPS_EVENTS_TENANT: str = env.str("OPS_EVENTS_TENANT", default="")
# Addresses mailed when an alert opens (through the emails app, as the events tenant). Empty: no mail.
OPS_ALERT_EMAILS: list[str] = env.list("OPS_ALERT_EMAILS", default=[])
# Who receives the weekly data-governance report (the periodic task ops.governance_report); empty: nobody.
OPS_REPORT_EMAILS: list[str] = env.list("OPS_REPORT_EMAILS", default=[])
# Bearer token for GET /metrics (Prometheus). Empty: only a staff session with ops.view_console may read it.
METRICS_TOKEN: str = env.str("METRICS_TOKEN", default="")
# Job counters and histograms carry a `tenant` label only when this is on: one series per tenant and type.
METRICS_TENANT_LABELS: bool = env.bool("METRICS_TENANT_LABELS", default=False)
# How long a process reuses the gauges it read from Postgres for /metrics, so scrapes do not query it each time
# (ci: 0, each test reads what it wrote).
METRICS_CACHE_SECONDS: float = env.float("METRICS_CACHE_SECONDS", default=0.0 if APP_ENV == "ci" else 5.0)
