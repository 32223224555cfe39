"""Leader election: a lease on one row (jobs_schedulerleader), renewed at every pass.

A session advisory lock survives a leader that is stopped (SIGSTOP) or cut off behind a live TCP connection:
the server keeps the session, and with it the lock, for hours. A lease needs nothing from the old leader: if
it does not renew within JOBS_LEASE_SECONDS, another scheduler takes over. Whatever a resumed old leader
still does is harmless: dispatch only sets absent wake-up keys and rescue takes rows FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connections

from jobs import sql

SYSTEM = "system"


def scheduler_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Leadership:
    identity: str = field(default_factory=scheduler_identity)
    token: uuid.UUID = field(default_factory=uuid.uuid4)
    held: bool = False

    def acquire(self) -> bool:
        """Take or renew the lease; True while this process leads. Call at the start of every pass."""
        try:
            with connections[SYSTEM].cursor() as cursor:
                cursor.execute(
                    sql.ACQUIRE_LEADERSHIP,
                    {"holder": self.identity, "token": self.token, "lease": settings.JOBS_LEASE_SECONDS},
                )
                self.held = cursor.fetchone() is not None
        except Exception:
            connections[SYSTEM].close()
            self.held = False
            raise
        return self.held

    def release(self) -> None:
        """Step down at once (a pass over its deadline, a clean stop): another scheduler may lead now."""
        if not self.held:
            return
        self.held = False
        try:
            with connections[SYSTEM].cursor() as cursor:
                cursor.execute(sql.RELEASE_LEADERSHIP, {"token": self.token})
        finally:
            connections[SYSTEM].close()
