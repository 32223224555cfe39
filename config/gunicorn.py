"""gunicorn configuration for production: `gunicorn -c config/gunicorn.py config.wsgi`."""

import multiprocessing
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("WEB_THREADS", "1"))
timeout = 30
graceful_timeout = 30
accesslog = "-"
# Download-link tokens and presigned signatures never reach the access log.
logger_class = "config.access_log.RedactingLogger"
# gunicorn's largest bounded request line (the default, 4094, is answered with gunicorn's own HTML 414).
limit_request_line = 8190
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def child_exit(server: object, worker: object) -> None:
    """A dead web process's live gauges (its pool status) leave /metrics (prometheus_client multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
