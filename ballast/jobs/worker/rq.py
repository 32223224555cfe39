"""The RQ worker class `manage.py rqworker` uses (settings RQ["WORKER_CLASS"]).

A SimpleWorker (no fork per message: pooled connections stay warm; a crash takes the worker down and the
scheduler's rescue takes its job back) that treats Redis as data, never code, and outlives Redis outages:

- it reads messages as JSON only, and runs only Ballast's wake-up entry point (jobs.wakeups.RUN_WAKEUP): any
  other function name, an instance, a callback or an RQ webhook in a message is refused before anything is
  imported (`refusal`), and the message is deleted. WakeupJob resolves nothing but RUN_WAKEUP either, so RQ's
  registry maintenance (which calls failure callbacks of abandoned jobs) cannot import a name from Redis;
- when Redis is down or hung it logs, waits with backoff and carries on where it was (RQ alone quits on an
  error outside its dequeue); a message it held then is lost with Redis, and its jobs wait in Postgres for
  the scheduler's next dispatch pass;
- it honours the operator's commands (jobs.worker.commands): quiet (a suspension of this worker alone) and
  stop (RQ's warm shutdown), each starting no further job once the running one is done;
- with a concurrency N above 1 (JOBS_WORKER_CONCURRENCY, `rqworker --concurrency N`) it runs up to N wake-ups at
  once, each in a slot thread of its own (its own database connections, its own tenant scope) under the
  process's one heartbeat and presence. The main thread dequeues the next message only when a slot is free,
  so messages it cannot run yet stay in Redis for other processes. A warm shutdown waits for every running
  slot; a killed process loses only the jobs its slots were running, which the scheduler's rescue takes back.
"""

from __future__ import annotations

import logging
import queue as queues
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from types import TracebackType
from typing import Any

from django.conf import settings
from django.db import connections
from rq.command import parse_payload
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.serializers import JSONSerializer
from rq.timeouts import BaseDeathPenalty, TimerDeathPenalty, UnixSignalDeathPenalty
from rq.utils import import_attribute
from rq.worker import SimpleWorker, WorkerStatus

from ballast.jobs import policy
from ballast.jobs.wakeups import RUN_WAKEUP
from ballast.jobs.worker import commands
from ballast.jobs.worker.heartbeat import Heartbeat
from ballast.jobs.worker.presence import Presence
from ballast.jobs.worker.run import drain, worker_identity
from ballast.lib import redis_client

logger = logging.getLogger(__name__)

# How long a worker waits between checks while Redis is unreachable: doubling from the first to the last.
RETRY_FIRST_SECONDS = 0.25
RETRY_MAX_SECONDS = 2.0


def refusal(job: Job) -> str | None:
    """Why this message must not run, or None for a Ballast wake-up. Imports nothing."""
    try:
        func_name = job.func_name  # JSON only: decoding cannot run code
        instance = job.instance
    except Exception as exc:
        return f"unreadable message ({type(exc).__name__})"
    if func_name != RUN_WAKEUP:
        return f"function {func_name!r} is not {RUN_WAKEUP!r}"
    if instance is not None:
        return "a message naming an instance"
    names = (job._success_callback_name, job._failure_callback_name, job._stopped_callback_name)
    if any(names):
        return f"callbacks {[name for name in names if name]!r}"
    if job.webhooks:
        return "RQ webhooks"
    return None


class WakeupJob(Job):
    """An RQ job that can only be a Ballast wake-up: `func` resolves RUN_WAKEUP and nothing else, callbacks
    and webhooks named in Redis are ignored."""

    @property
    def func(self) -> Callable[..., Any]:
        problem = refusal(self)
        if problem is not None:
            raise PermissionError(f"refused RQ message {self.id}: {problem}")
        return import_attribute(RUN_WAKEUP)

    @property
    def success_callback(self) -> None:
        return None

    @property
    def failure_callback(self) -> None:
        return None

    @property
    def stopped_callback(self) -> None:
        return None

    def send_webhooks(self, *args: Any, **kwargs: Any) -> None:
        return None


class ThreadDeathPenalty(BaseDeathPenalty):
    """RQ's last-resort message timeout: an alarm in the main thread, a timer in a slot thread (where no signal
    can be delivered)."""

    def __init__(self, timeout: float, exception: type[Exception] = Exception, **kwargs: Any) -> None:
        super().__init__(timeout, exception, **kwargs)
        main = threading.current_thread() is threading.main_thread()
        self._penalty = (UnixSignalDeathPenalty if main else TimerDeathPenalty)(timeout, exception, **kwargs)

    def __enter__(self) -> None:
        self._penalty.__enter__()

    def __exit__(
        self, type: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> bool:
        return bool(self._penalty.__exit__(type, value, traceback))


class Slots:
    """N slot threads running wake-ups; the main thread hands one a message only when one is free.

    The threads are daemons: a cold shutdown (a second signal) exits without them, their jobs left to the
    scheduler's rescue, as a killed process's."""

    def __init__(self, size: int, run: Callable[[Job, Queue], None]) -> None:
        self.size = size
        self._run = run
        self._busy = 0
        self._changed = threading.Condition()
        self._inbox: queues.SimpleQueue[tuple[Job, Queue]] = queues.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"ballast-slot-{index}", daemon=True) for index in range(size)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def busy(self) -> int:
        with self._changed:
            return self._busy

    def submit(self, job: Job, queue: Queue) -> None:
        with self._changed:
            self._busy += 1
        self._inbox.put((job, queue))

    def wait(self, *, below: int, timeout: float) -> bool:
        """Wait up to `timeout` for fewer than `below` slots to be busy; whether they are."""
        with self._changed:
            return self._changed.wait_for(lambda: self._busy < below, timeout=timeout)

    def _serve(self) -> None:
        while True:
            job, queue = self._inbox.get()
            try:
                self._run(job, queue)
            except BaseException:  # a slot thread never dies: the next message needs it
                logger.exception("slot failed around RQ message %s", job.id)
            finally:
                connections.close_all()  # this thread's connections, back to the pool
                with self._changed:
                    self._busy -= 1
                    self._changed.notify_all()


class BallastWorker(SimpleWorker):
    # RQ's own reconnect backoff inside its dequeue loop (its default climbs to a minute).
    max_connection_wait_time = RETRY_MAX_SECONDS
    death_penalty_class = ThreadDeathPenalty

    _quiet = False
    _slots: Slots | None = None
    _listening = False  # the main thread is in RQ's dequeue (a stop then interrupts it)
    _cold = False

    # `rqworker --concurrency N` (with_concurrency); None: JOBS_WORKER_CONCURRENCY.
    default_concurrency: int | None = None

    def __init__(
        self, queues: Sequence[Queue | str], *args: Any, concurrency: int | None = None, **kwargs: Any
    ) -> None:
        self._thread_state = threading.local()
        self.concurrency = max(1, concurrency or self.default_concurrency or settings.JOBS_WORKER_CONCURRENCY)
        # The worker's own client from the one factory (REDIS_DSN or Sentinel); RQ raises its socket timeout
        # above its blocking dequeue, so it is not shared with the wake-up client.
        connection = redis_client.client("worker")
        # Ballast's queue names stand for their names in Redis (JOBS_RQ_QUEUE_NAMES).
        names = [policy.rq_name(queue) if isinstance(queue, str) else queue.name for queue in queues]
        kwargs.update(connection=connection, serializer=JSONSerializer, job_class=WakeupJob, queue_class=Queue)
        rq_queues = [
            Queue(name, connection=connection, serializer=JSONSerializer, job_class=WakeupJob) for name in names
        ]
        pause = RETRY_FIRST_SECONDS
        while True:  # RQ asks Redis about this client as it starts: wait for Redis, as later on
            try:
                super().__init__(rq_queues, *args, **kwargs)
                return
            except redis_client.REDIS_DOWN as exc:
                logger.warning("Redis unreachable as the worker starts (%s); retrying in %ss", exc, pause)
                time.sleep(pause)
                pause = min(pause * 2, RETRY_MAX_SECONDS)

    @classmethod
    def with_concurrency(cls, concurrency: int) -> type[BallastWorker]:
        """This class, running `concurrency` wake-ups at once whatever JOBS_WORKER_CONCURRENCY says."""
        return type(cls.__name__, (cls,), {"default_concurrency": concurrency, "__module__": cls.__module__})

    def work(self, *args: Any, **kwargs: Any) -> bool:
        # Warm the connection pools before the first wake-up: the first job's claim is otherwise followed by a
        # connect, which widens the instant between a claim and its handler's start.
        for alias in ("default", "system"):
            connections[alias].ensure_connection()
            connections[alias].close()  # back to the pool, which keeps it open
        # Publish the job types this process can run, from its heartbeat, while it works (jobs.worker.presence).
        presence = Presence(worker_identity(), tuple(policy.queue_named(name) or name for name in self.queue_names()))
        heartbeat = Heartbeat.shared()
        heartbeat.announce(presence)
        if self.concurrency > 1 and self._slots is None:
            self._slots = Slots(self.concurrency, self._perform)
            self.log.info("Worker %s: running up to %d wake-ups at once", self.name, self.concurrency)
        try:
            return bool(super().work(*args, **kwargs))
        finally:
            heartbeat.announce(None)
            try:
                presence.withdraw()
            except Exception:  # the row ages out by itself (jobs.worker.presence.live_seconds)
                logger.warning("could not withdraw this worker's presence", exc_info=True)
            connections.close_all()

    def execute_job(self, job: Job, queue: Queue) -> None:
        if self.is_quiet():
            # Popped before the worker went quiet (its dequeue was waiting): back to the front for another.
            queue.push_job_id(job.id, at_front=True)
            queue.intermediate_queue.remove(job.id)  # else RQ's cleanup would fail it as stuck
            self.log.info("Worker %s: quiet, gave back RQ message %s", self.name, job.id)
            return
        problem = refusal(job)
        if problem is not None:
            self.log.error("Worker %s: refused RQ message %s (deleted, not run): %s", self.name, job.id, problem)
            with suppress(Exception):
                job.delete(remove_from_queue=True, delete_dependents=True)
            return
        if self._slots is not None:
            self.set_state(WorkerStatus.BUSY)
            self._slots.submit(job, queue)
            return
        self._perform(job, queue)

    def _perform(self, job: Job, queue: Queue) -> None:
        """Run one message, here (one at a time) or in a slot thread."""
        try:
            if self._slots is None:
                super().execute_job(job, queue)
            else:
                self.prepare_execution(job)
                self.perform_job(job, queue)
        except redis_client.REDIS_DOWN as exc:
            # Whatever the wake-up did in Postgres is committed; RQ's bookkeeping of the message is lost.
            self.log.warning("Worker %s: Redis failed around message %s", self.name, job.id)
            self._wait_for_redis(exc)

    # RQ keeps the execution of the message being run on the worker: one per slot thread.
    @property
    def execution(self) -> Execution | None:
        return getattr(self._thread_state, "execution", None)

    @execution.setter
    def execution(self, value: Execution | None) -> None:
        self._thread_state.execution = value

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
        while True:
            self._wait_for_a_free_slot()
            result = self._dequeue(timeout, max_idle_time)
            if result is None and timeout is None and self._slots is not None and self._slots.busy:
                # A burst ends once nothing is queued and nothing runs: a running wake-up may pass its baton on.
                self._slots.wait(below=self._slots.busy, timeout=1.0)
                continue
            return result

    def _wait_for_a_free_slot(self) -> None:
        slots = self._slots
        if slots is None:
            return
        beat = time.monotonic()
        while not slots.wait(below=slots.size, timeout=0.05):
            if self._stop_requested:
                raise StopRequested()
            if time.monotonic() - beat >= 5:  # RQ's registry keeps a worker that beats
                self.heartbeat()
                beat = time.monotonic()

    def _dequeue(self, timeout: int | None, max_idle_time: int | None) -> Any:
        while True:
            self._listening = True
            try:
                if self._stop_requested:
                    raise StopRequested()
                return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            except redis_client.REDIS_DOWN as exc:
                self._wait_for_redis(exc)
            except StopRequested:
                raise
            except Exception as exc:
                job_id = getattr(exc, "job_id", None)  # RQ tags a message it popped but could not read
                if job_id is None:
                    raise
                self.log.error("Worker %s: dropped unreadable RQ message %s: %r", self.name, job_id, exc)
            finally:
                self._listening = False

    def _shutdown(self) -> None:
        if self._slots is None:
            super()._shutdown()
            return
        # Slots may be running: stop dequeuing (at once if the main thread is waiting for a message); the
        # teardown waits for the running slots.
        self._stop_requested = True
        self.set_shutdown_requested_date()
        if self._listening:
            raise StopRequested()

    def request_force_stop(self, signum: int, frame: Any) -> None:
        self._cold = True
        super().request_force_stop(signum, frame)

    def teardown(self) -> None:
        slots = self._slots
        if slots is not None and not self._cold:
            drain()
            if slots.busy:
                self.log.info("Worker %s: waiting for %d running wake-ups", self.name, slots.busy)
            while not slots.wait(below=1, timeout=1.0):
                self.heartbeat()
        super().teardown()

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        try:
            super().heartbeat(timeout, pipeline)
        except redis_client.REDIS_DOWN as exc:
            if pipeline is not None:
                raise
            self._wait_for_redis(exc)

    def check_for_suspension(self, burst: bool) -> None:
        try:
            super().check_for_suspension(burst)
            if self.is_quiet():
                self._stay_quiet()
        except redis_client.REDIS_DOWN as exc:
            self._wait_for_redis(exc)

    def is_quiet(self) -> bool:
        """Told to be quiet, by command or by its key (a command published while it was not listening)."""
        if not self._quiet and commands.is_quiet(self.connection, self.name):
            self._become_quiet()
        return self._quiet

    def _become_quiet(self) -> None:
        if not self._quiet:
            self.log.info("Worker %s: quiet: taking no new wake-up", self.name)
        self._quiet = True
        drain()

    def _stay_quiet(self) -> None:
        """Registered and alive, taking nothing, until a stop (whose signal ends the sleep)."""
        self.set_state(WorkerStatus.SUSPENDED)
        while not self._stop_requested:
            self.heartbeat()
            time.sleep(1)

    def handle_payload(self, message: Any) -> None:
        # The pub/sub thread: a quiet command takes effect here at once, RQ's own commands go to RQ.
        try:
            payload = parse_payload(message)
        except Exception:
            self.log.error("Worker %s: dropped an unreadable command", self.name)
            return
        if payload.get("command") == commands.QUIET:
            self._become_quiet()
            return
        super().handle_payload(message)

    def request_stop(self, signum: Any, frame: Any) -> None:
        drain()  # the handler running now finishes; its wake-up goes on to another worker
        super().request_stop(signum, frame)

    def run_maintenance_tasks(self) -> None:
        try:
            super().run_maintenance_tasks()
        except redis_client.REDIS_DOWN as exc:
            self._wait_for_redis(exc)

    def register_birth(self) -> None:
        while True:
            try:
                return super().register_birth()
            except redis_client.REDIS_DOWN as exc:
                self._wait_for_redis(exc)

    def set_shutdown_requested_date(self) -> None:
        try:
            super().set_shutdown_requested_date()
        except redis_client.REDIS_DOWN:
            self.log.warning("Worker %s: stop requested while Redis is unreachable", self.name)

    def register_death(self) -> None:
        try:
            super().register_death()
        except redis_client.REDIS_DOWN:
            self.log.warning("Worker %s: Redis unreachable; its registry entry will expire", self.name)

    def _wait_for_redis(self, error: BaseException) -> None:
        """Block until Redis answers (or a stop is requested), checking with growing pauses."""
        self.log.warning(
            "Worker %s: Redis unreachable (%s: %s); waiting for it", self.name, type(error).__name__, error
        )
        started = time.monotonic()
        pause = RETRY_FIRST_SECONDS
        while True:
            until = time.monotonic() + pause
            while time.monotonic() < until:
                if self._stop_requested:
                    raise StopRequested()
                time.sleep(0.05)
            try:
                redis_client.client().ping()
            except redis_client.REDIS_DOWN:
                pause = min(pause * 2, RETRY_MAX_SECONDS)
                continue
            self.log.info("Worker %s: Redis is back after %.1fs", self.name, time.monotonic() - started)
            return
