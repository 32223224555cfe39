"""The physical baseline: a bare claim-and-complete loop in SQL, no framework, on the benchmark's database.

    python bench/sql_loop.py DSN NAME

Claims the oldest queued row of `bench_sql_job` with FOR UPDATE SKIP LOCKED (one transaction, committed),
records its start (bench.starts), then marks it done (a second transaction): the two durable writes every
job system pays per job. Prints "ready" once connected; exits on SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import psycopg  # noqa: E402

from bench.starts import record_start  # noqa: E402

SCHEMA = """
CREATE TABLE IF NOT EXISTS bench_sql_job (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seq int NOT NULL,
    sleep double precision NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'queued',
    locked_by text
);
CREATE INDEX IF NOT EXISTS bench_sql_job_queued ON bench_sql_job (id) WHERE status = 'queued';
"""
CLAIM = """
UPDATE bench_sql_job SET status = 'running', locked_by = %(name)s
WHERE id = (SELECT id FROM bench_sql_job WHERE status = 'queued' ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
RETURNING id, seq, sleep
"""
COMPLETE = "UPDATE bench_sql_job SET status = 'done', locked_by = NULL WHERE id = %(id)s"
IDLE_SLEEP = 0.002


def main(dsn: str, name: str) -> int:
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    with psycopg.connect(dsn, autocommit=True) as conn:
        print("ready", flush=True)
        while not stopping:
            row = conn.execute(CLAIM, {"name": name}, prepare=True).fetchone()
            if row is None:
                time.sleep(IDLE_SLEEP)
                continue
            job_id, seq, sleep = row
            record_start(seq, "sql")
            if sleep:
                time.sleep(sleep)
            conn.execute(COMPLETE, {"id": job_id}, prepare=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
