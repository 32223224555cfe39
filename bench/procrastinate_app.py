"""The Procrastinate baseline: an app on a database of its own (BENCH_PROCRASTINATE_DSN) and a no-op task.

Workers: `python -m procrastinate --app bench.procrastinate_app.app worker --concurrency 1 --queues bench`.
"""

from __future__ import annotations

import asyncio
import os

import procrastinate

from bench.starts import record_start

DSN_ENV = "BENCH_PROCRASTINATE_DSN"
QUEUE = "bench"

app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(conninfo=os.environ.get(DSN_ENV, ""), min_size=1, max_size=4)
)


# Async: the worker runs it on its event loop. A sync task goes through a thread per job and drained at
# roughly half the rate here, so this is Procrastinate's faster path.
@app.task(name="bench.noop", queue=QUEUE)
async def noop(seq: int, sleep: float = 0.0) -> None:
    record_start(seq, "procrastinate")
    if sleep:
        await asyncio.sleep(sleep)  # the I/O-bound phase: a handler waiting on the network
