"""A periodic task that exists only in tests, loaded into a scheduler process by Processes.scheduler(imports=...).

It needs the owner (so the scheduler's leader runs it), appends "S|E <slot> <pid> <time>" to SLOT_PROBE_LOG at
its start and end, and sleeps SLOT_PROBE_SECONDS in between. Its slots are SLOT_PROBE_EVERY seconds long."""

from __future__ import annotations

import os
import time
from datetime import timedelta

from ballast.jobs.scheduler.periodic import current_slot, periodic

NAME = "tests.slot_probe"


def _log(kind: str) -> None:
    slot = current_slot()
    with open(os.environ["SLOT_PROBE_LOG"], "a") as file:
        file.write(f"{kind} {slot[1] if slot else '-'} {os.getpid()} {time.time():.3f}\n")


@periodic(NAME, every=timedelta(seconds=int(os.environ.get("SLOT_PROBE_EVERY", "3600"))), requires_owner=True)
def probe() -> None:
    _log("S")
    time.sleep(float(os.environ.get("SLOT_PROBE_SECONDS", "0")))
    _log("E")
