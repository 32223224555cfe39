"""Audit actions of the outbox app, and the trace id every audit entry carries (the current request's or job's)."""

from ballast.lib import tracing
from ballast.tenants.audit import register_actions, trace_ids_from

register_actions(
    {
        "idempotency.key_invalidated": "An operator forgot an Idempotency-Key: the next request with it runs anew.",
    }
)
trace_ids_from(lambda: tracing.current().trace_id)
