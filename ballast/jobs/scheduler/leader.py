"""Leader election: a lease on one row (jobs_schedulerleader), renewed on a ticker of its own.

A session advisory lock survives a leader that is stopped (SIGSTOP) or cut off behind a live TCP connection:
the server keeps the session, and with it the lock, for hours. A lease needs nothing from the old leader: if
it does not renew within JOBS_LEASE_SECONDS, another scheduler takes over.

The ticker is a thread with its own connection that runs nothing but the renewal, every
JOBS_LEADER_RENEW_SECONDS, each bounded by a statement_timeout: no service's work can delay it. A term (one
continuous leadership) is valid until `sent + JOBS_LEADER_RENEW_DEADLINE_SECONDS`, where `sent` is the moment
the last successful renewal was sent: the row's lease runs at least JOBS_LEASE_SECONDS from a moment after
that, so a leader whose renewals fail or stall stops believing it leads before another could take the row.
`current_term()` reads the clock, not a flag, so a starved ticker cannot stretch a term either.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connections, transaction

from ballast.jobs import sql

logger = logging.getLogger(__name__)

SYSTEM = "system"


def scheduler_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Term:
    """One continuous leadership. `ended` is set when it ends (lost, not renewed in time, released, stopped):
    the leading services take it as their stop event."""

    number: int
    valid_until: float  # time.monotonic()
    began: float = field(default_factory=time.monotonic)
    ended: threading.Event = field(default_factory=threading.Event)

    def active(self) -> bool:
        return not self.ended.is_set() and time.monotonic() < self.valid_until

    def has_led_for(self, seconds: float) -> bool:
        return time.monotonic() - self.began >= seconds


@dataclass
class Leadership:
    identity: str = field(default_factory=scheduler_identity)
    token: uuid.UUID = field(default_factory=uuid.uuid4)
    lease: float = field(default_factory=lambda: float(settings.JOBS_LEASE_SECONDS))
    renew_every: float = field(default_factory=lambda: float(settings.JOBS_LEADER_RENEW_SECONDS))
    renew_deadline: float = field(default_factory=lambda: float(settings.JOBS_LEADER_RENEW_DEADLINE_SECONDS))
    _term: Term | None = None
    _terms: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        if not 0 < self.renew_deadline < self.lease:
            raise ValueError(
                f"JOBS_LEADER_RENEW_DEADLINE_SECONDS ({self.renew_deadline:g}) must be above 0 and below "
                f"JOBS_LEASE_SECONDS ({self.lease:g}): a leader must step down before its lease can be taken"
            )
        self._changed = threading.Condition(self._lock)

    @property
    def held(self) -> bool:
        return self.current_term() is not None

    def current_term(self) -> Term | None:
        """The term in force, or None. Ends a term whose validity ran out (the ticker may be late)."""
        with self._lock:
            term = self._term
            if term is not None and not term.active():
                self._end_locked("its lease was not renewed in time")
                term = None
            return term

    def wait_for_term(self, stop: threading.Event, timeout: float) -> Term | None:
        """The current term, waiting up to `timeout` for one to begin."""
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            term = self.current_term()
            if term is not None:
                return term
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            with self._changed:
                self._changed.wait(min(left, 0.1))
        return None

    def renew(self) -> bool:
        """One renewal (or acquisition) of the lease; True while this process leads."""
        sent = time.monotonic()
        with self._lock:
            term = self._term
        # Bounded, so a hung renewal cannot outlive the term it would extend (the term then ends on time).
        left = term.valid_until - sent if term is not None else self.renew_deadline
        timeout = max(0.05, min(self.renew_deadline / 2, left))
        try:
            with transaction.atomic(using=SYSTEM), connections[SYSTEM].cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(int(timeout * 1000))])
                cursor.execute(
                    sql.ACQUIRE_LEADERSHIP, {"holder": self.identity, "token": self.token, "lease": self.lease}
                )
                won = cursor.fetchone() is not None
        finally:
            # Back to the pool, which checks it before the next renewal: a session a restart ended between two
            # renewals is replaced instead of failing the renewal.
            connections[SYSTEM].close()
        with self._lock:
            if not won:
                if self._term is not None:
                    self._end_locked("another scheduler holds the lease")
                return False
            if self._term is not None and self._term.active():
                self._term.valid_until = sent + self.renew_deadline
            else:
                if self._term is not None:
                    self._end_locked("its lease was not renewed in time")
                self._terms += 1
                self._term = Term(number=self._terms, valid_until=sent + self.renew_deadline)
                logger.info(
                    "became the scheduler leader (%s, term %d) at %.3f", self.identity, self._terms, time.time()
                )
                self._changed.notify_all()
            return True

    def run(self, stop: threading.Event) -> None:
        """The ticker: renew until `stop`, then release. Run in a thread of its own."""
        try:
            while not stop.is_set():
                failed = False
                try:
                    leading = self.renew()
                except Exception:
                    logger.exception("scheduler leadership renewal failed")
                    leading, failed = self.current_term() is not None, True
                # A failed renewal is tried again soon, while the term still stands.
                wait = self.renew_every if leading and not failed else min(1.0, self.renew_every)
                term = self.current_term()
                if term is not None:  # wake in time to end the term when it runs out
                    wait = min(wait, max(0.0, term.valid_until - time.monotonic()) + 0.01)
                stop.wait(wait)
                self.current_term()
        finally:
            try:
                self.release()
            except Exception:
                logger.exception("could not release leadership")
            finally:
                connections[SYSTEM].close()

    def release(self) -> None:
        """Step down at once (a clean stop): another scheduler may lead now."""
        with self._lock:
            if self._term is None:
                return
            self._end_locked("released")
        with connections[SYSTEM].cursor() as cursor:
            cursor.execute(sql.RELEASE_LEADERSHIP, {"token": self.token})

    def _end_locked(self, why: str) -> None:
        term = self._term
        if term is None:
            return
        self._term = None
        term.ended.set()
        # The term ended when it stopped being valid, if that came first (a late ticker, a stalled renewal).
        ended_at = time.time() - max(0.0, time.monotonic() - term.valid_until)
        logger.warning(
            "no longer the scheduler leader (%s, term %d) at %.3f: %s", self.identity, term.number, ended_at, why
        )
        self._changed.notify_all()
