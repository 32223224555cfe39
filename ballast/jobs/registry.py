"""Job handlers: `@job_handler("email.send", queue="email", max_attempts=8, timeout=60)`.

Each app declares its job types in its own `job_handlers.py`, imported at start-up (JobsConfig.ready).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import jsonschema

from ballast.jobs import cron as cron_schedules
from ballast.jobs import policy

if TYPE_CHECKING:
    from ballast.jobs.worker.context import JobContext

Handler = Callable[["JobContext", dict[str, Any]], Any]
# on_dead_letter(tenant_id=, payload=, error=, using=): runs in the dead-lettering transaction, on `using`.
DeadLetterHook = Callable[..., None]


class UnknownJobType(LookupError):
    pass


@dataclass(frozen=True)
class HandlerSpec:
    job_type: str
    func: Handler
    queue: str
    max_attempts: int
    timeout: float
    schema: dict[str, Any] | None
    backoff_base: float
    backoff_cap: float
    declared_concurrency: int | None
    enabled: Callable[[], bool]
    # False for the relay's own delivery jobs: their lifecycle events would be relayed again, without end.
    lifecycle_events: bool = True
    # False: the handler runs outside any transaction and writes through ctx.transaction() (jobs.worker.context).
    atomic: bool = True
    # True: clients may enqueue it through the API. Internal types (deliveries, maintenance) are not public.
    public: bool = False
    # What else must end when a job of this type is dead-lettered (e.g. the delivery it was attempting).
    on_dead_letter: DeadLetterHook | None = None
    # Enqueues of the same type and payload within this window return the job already there (jobs.services).
    unique_for: timedelta | None = None
    unique_states: tuple[str, ...] | None = None
    # Its class for queue/process's per-call quotas (policy.JOB_CLASSES: emailMax, cleanupMax, auditMax).
    job_class: str | None = None
    # The seconds one attempt may take when queue/process runs it inside a web request (its deadline there).
    # None: too slow or unbounded for a request, so queue/process leaves it to the workers.
    sync_timeout: float | None = None

    @property
    def concurrency(self) -> int | None:
        """The cap in force: JOBS_CONCURRENCY overrides what the handler declared."""
        return policy.concurrency_cap(self.job_type, self.declared_concurrency)

    validator: jsonschema.protocols.Validator | None = None

    def validate(self, payload: Any) -> None:
        """Raises jsonschema.ValidationError when the payload does not fit the declared schema."""
        if self.validator is not None:
            self.validator.validate(payload)


_registry: dict[str, HandlerSpec] = {}


def _validator(schema: dict[str, Any] | None) -> jsonschema.protocols.Validator | None:
    """Checked against its metaschema once, here, not on every enqueue (that costs ~1.7 ms a call)."""
    if schema is None:
        return None
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def job_handler(
    job_type: str,
    *,
    queue: str = "default",
    max_attempts: int | None = None,
    timeout: float = 300,
    schema: dict[str, Any] | None = None,
    backoff_base: float | None = None,
    backoff_cap: float | None = None,
    concurrency: int | None = None,
    enabled: Callable[[], bool] = lambda: True,
    lifecycle_events: bool = True,
    atomic: bool = True,
    public: bool = False,
    on_dead_letter: DeadLetterHook | None = None,
    cron: str | None = None,
    timezone: str = "UTC",
    cron_payload: dict[str, Any] | None = None,
    unique_for: timedelta | None = None,
    unique_states: Sequence[str] | None = None,
    job_class: str | None = None,
    sync_timeout: float | None = None,
) -> Callable[[Handler], Handler]:
    """Register a job type. `cron` (in `timezone`): the scheduler's leader also enqueues it, with `cron_payload`,
        at every slot, under the platform tenant (ballast.jobs.cron). `unique_for` / `unique_states`: the defaults of
        its enqueues (ballast.jobs.services.enqueue). `job_class` (policy.JOB_CLASSES) and `sync_timeout`: how
    queue/process treats it (its quota class; whether, and within what deadline, it runs inside a request)."""
    if queue not in policy.QUEUES:
        raise ValueError(f"Unknown queue {queue!r} for {job_type}; queues: {', '.join(policy.QUEUES)}")
    if job_class is not None and job_class not in policy.JOB_CLASSES:
        raise ValueError(f"Unknown job class {job_class!r} for {job_type}; classes: {', '.join(policy.JOB_CLASSES)}")
    if sync_timeout is not None and not 0 < sync_timeout <= timeout:
        raise ValueError(f"{job_type}: sync_timeout must be above 0 and at most its timeout ({timeout:g} s)")
    defaults = policy.QUEUES[queue]

    def register(func: Handler) -> Handler:
        if job_type in _registry and _registry[job_type].func is not func:
            raise ValueError(f"Job type {job_type!r} is registered twice")
        _registry[job_type] = HandlerSpec(
            job_type=job_type,
            func=func,
            queue=queue,
            max_attempts=max_attempts or defaults.max_attempts,
            timeout=timeout,
            schema=schema,
            backoff_base=backoff_base if backoff_base is not None else defaults.backoff_base,
            backoff_cap=backoff_cap if backoff_cap is not None else defaults.backoff_cap,
            declared_concurrency=concurrency,
            enabled=enabled,
            validator=_validator(schema),
            lifecycle_events=lifecycle_events,
            atomic=atomic,
            public=public,
            on_dead_letter=on_dead_letter,
            unique_for=unique_for,
            unique_states=tuple(unique_states) if unique_states is not None else None,
            job_class=job_class,
            sync_timeout=sync_timeout,
        )
        if cron is not None:
            cron_schedules.declare(job_type, cron=cron, timezone=timezone, payload=cron_payload)
        return func

    return register


def get_handler(job_type: str) -> HandlerSpec:
    spec = _registry.get(job_type)
    if spec is None or not spec.enabled():
        raise UnknownJobType(f"Unknown job type {job_type!r}")
    return spec


def is_registered(job_type: str) -> bool:
    """Known to this process, enabled or not: a type it has never heard of comes from newer code."""
    return job_type in _registry


def public_handler(job_type: str) -> HandlerSpec:
    """The handler of a type clients may enqueue; UnknownJobType for any other, naming only public types."""
    spec = _registry.get(job_type)
    if spec is None or not spec.enabled() or not spec.public:
        known = ", ".join(sorted(t for t, s in _registry.items() if s.enabled() and s.public)) or "none"
        raise UnknownJobType(f"Unknown job type {job_type!r}; types you may enqueue: {known}")
    return spec


def public_types() -> list[HandlerSpec]:
    """The types clients may enqueue now, by name."""
    return sorted((s for s in _registry.values() if s.enabled() and s.public), key=lambda spec: spec.job_type)


def public_type_names() -> list[str]:
    """Every type registered as public, enabled or not: what a tenant's credential may see of its jobs."""
    return sorted(t for t, s in _registry.items() if s.public)


def types_on_queues(queues: tuple[str, ...]) -> list[str]:
    return sorted(t for t, s in _registry.items() if s.queue in queues)


def types_of_class(job_class: str) -> list[str]:
    return sorted(t for t, s in _registry.items() if s.job_class == job_class)


def types_without_sync_bound(budget_seconds: float) -> list[str]:
    """The types queue/process may not start with `budget_seconds` left: no sync_timeout, or one above it."""
    return sorted(t for t, s in _registry.items() if s.sync_timeout is None or s.sync_timeout > budget_seconds)


def registered_types() -> list[str]:
    return sorted(t for t, s in _registry.items() if s.enabled())
