"""Serve GET /metrics for the processes of this host from PROMETHEUS_MULTIPROC_DIR, on a host that runs workers
and no web process (docs/observability.md). Only the counters, histograms and pool gauges: the gauges read from
Postgres are the web processes' to export. Bearer METRICS_TOKEN when it is set.

manage.py metrics_exporter --bind 0.0.0.0 --port 9400
"""

from __future__ import annotations

from typing import Any
from wsgiref.simple_server import make_server

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ballast.lib import metrics
from ballast.ops.metrics import exporter_app


class Command(BaseCommand):
    help = "Serve /metrics for this host's processes from PROMETHEUS_MULTIPROC_DIR."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=9400, help="port to listen on (default 9400)")

    def handle(self, *args: Any, **options: Any) -> None:
        path = metrics.multiprocess_dir()
        if not path:
            raise CommandError("PROMETHEUS_MULTIPROC_DIR is not set: this host's processes write no metrics to share")
        server = make_server(options["bind"], options["port"], exporter_app(path))
        self.stdout.write(f"Serving {path} on http://{options['bind']}:{options['port']}/metrics")
        server.serve_forever()
