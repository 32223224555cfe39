import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand

from ballast.jobs.scheduler.loop import run_scheduler


class Command(BaseCommand):
    help = "Run the scheduler: leader election, rescue, dispatch, periodic jobs, the relay. Stops on SIGTERM/SIGINT."

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()

        def request_stop(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        self.stdout.write("scheduler started; waiting for leadership")
        run_scheduler(stop)
        self.stdout.write("scheduler stopped")
