"""Code subscribers of outbox events. Each delivery runs as a job keyed by event id + subscriber name,
so a redelivered event never runs a subscriber twice.

    @subscriber("job.succeeded", name="billing.count_usage")
    def count_usage(event: OutboxEvent) -> None: ...   # runs inside tenant_scope(event.tenant_id)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ballast.outbox.models import OutboxEvent

Subscriber = Callable[[OutboxEvent], object]


@dataclass(frozen=True)
class Subscription:
    name: str
    event_types: frozenset[str]
    func: Subscriber

    def matches(self, event_type: str) -> bool:
        return "*" in self.event_types or event_type in self.event_types


_subscriptions: dict[str, Subscription] = {}


def subscriber(*event_types: str, name: str) -> Callable[[Subscriber], Subscriber]:
    def register(func: Subscriber) -> Subscriber:
        if name in _subscriptions and _subscriptions[name].func is not func:
            raise ValueError(f"Subscriber {name!r} is registered twice")
        _subscriptions[name] = Subscription(name=name, event_types=frozenset(event_types), func=func)
        return func

    return register


def subscriptions_for(event_type: str) -> list[Subscription]:
    return [subscription for subscription in _subscriptions.values() if subscription.matches(event_type)]


def get_subscription(name: str) -> Subscription | None:
    return _subscriptions.get(name)
