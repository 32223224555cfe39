"""An operator's commands to one running worker, through RQ's own channels (the worker's pub/sub channel and
its registry), honoured by jobs.worker.rq.BallastWorker:

- quiet: the worker takes no new wake-up (a per-worker suspension key, which its loop checks like `rq
  suspend`, and RQ's `send_command(..., "quiet")`, so it also hands on the wake-up it holds once its running
  job is done). It stays registered, suspended, until it is stopped; a wake-up it popped meanwhile goes back
  to the front of its queue for another worker.
- stop: RQ's `send_shutdown_command`, a warm shutdown: the running job finishes, then the process exits.

A command published while the worker is not subscribed is lost; the quiet key is not, and the console shows
what the worker reports (its RQ state).
"""

from __future__ import annotations

from redis import Redis
from rq.command import send_command, send_shutdown_command
from rq.worker import BaseWorker, Worker

QUIET = "quiet"
QUIET_KEY = "ballast:worker:quiet:{name}"
QUIET_KEY_TTL_SECONDS = 7 * 24 * 3600  # a worker that outlives this stays quiet: it read the key already


def registered(connection: Redis, name: str) -> BaseWorker | None:
    """The RQ worker of that name, if it is registered (alive) now."""
    return Worker.find_by_key(Worker.redis_worker_namespace_prefix + name, connection=connection)


def quiet(connection: Redis, name: str) -> None:
    connection.set(QUIET_KEY.format(name=name), 1, ex=QUIET_KEY_TTL_SECONDS)
    send_command(connection, name, QUIET)


def is_quiet(connection: Redis, name: str) -> bool:
    return bool(connection.exists(QUIET_KEY.format(name=name)))


def stop(connection: Redis, name: str) -> None:
    send_shutdown_command(connection, name)
