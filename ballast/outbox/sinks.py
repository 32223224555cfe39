"""Where the relay hands events: sinks registered by the layers above (the outbox knows no consumer).

    register_sink("webhooks", fan_out_event)   # from the consumer's AppConfig.ready, or a module it imports

The relay calls every sink with every event, inside tenant_scope(event.tenant_id) and in the transaction
that marks the event delivered, so a sink's writes commit with that mark. A sink raises to have the event
retried; since an event can be relayed again (a relay dies before its commit), it must be idempotent.
"""

from __future__ import annotations

from collections.abc import Callable

from ballast.outbox.models import OutboxEvent

Sink = Callable[[OutboxEvent], object]

_sinks: dict[str, Sink] = {}


def register_sink(name: str, func: Sink) -> None:
    """Safe to call twice with one function; another function under a taken name raises ValueError."""
    if name in _sinks and _sinks[name] is not func:
        raise ValueError(f"Outbox sink {name!r} is registered twice")
    _sinks[name] = func


def registered_sinks() -> list[tuple[str, Sink]]:
    """In registration order (the order of INSTALLED_APPS, when each registers in its ready())."""
    return list(_sinks.items())
