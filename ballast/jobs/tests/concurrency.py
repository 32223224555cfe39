"""Many threads doing one thing at the same moment, each in its own transaction and connection."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connections, transaction


def at_once(count: int, enqueue_one: Callable[[], int]) -> tuple[list[int], list[BaseException]]:
    """Run `enqueue_one` in `count` threads released together; the ids it returned and the errors raised."""
    barrier = threading.Barrier(count)
    ids: list[int] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                ids.append(enqueue_one())
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return ids, errors
