"""Every SQL statement on the jobs tables, by name (Procrastinate's queries.sql, River's dbsqlc).

`grep "UPDATE jobs_job"` lands here. Status writes are only executed through jobs.transitions, which checks
the state machine first. Every timestamp that is compared with now() is written by the database (now() or
clock_timestamp()), never by the app server's clock.
"""

from __future__ import annotations

from ballast.jobs.states import TERMINAL

# A job that has finished (jobs.states.TERMINAL), as an SQL list: `status IN {FINISHED}`.
FINISHED = "(" + ", ".join(f"'{status}'" for status in sorted(TERMINAL)) + ")"

# What a worker needs to run a claimed job (jobs.worker.claim.ClaimedJob, in this order). Every column is cast
# to a type without a modifier: the prepared claims (jobs.prepared) return these, and a migration that changes a
# column's length (AlterField max_length) then leaves their result type, and so their cached plans, valid.
CLAIMED_COLUMNS = (
    "id::bigint AS id, tenant_id::bigint AS tenant_id, job_type::text AS job_type, queue::text AS queue, "
    "payload::jsonb AS payload, attempts::int AS attempts, max_attempts::int AS max_attempts, "
    "lease_token::uuid AS lease_token, trace_id::text AS trace_id, correlation_id::text AS correlation_id, "
    "traceparent::text AS traceparent, created_event_id::uuid AS created_event_id, "
    "locked_at::timestamptz AS locked_at, cancel_requested::boolean AS cancel_requested, "
    "locked_by::text AS locked_by, retention_at::timestamptz AS retention_at, "
    "available_at::timestamptz AS available_at"
)

# A job's partition, when the caller knows it (a claimed job's retention_at): the statement is then planned on one
# partition of jobs_job instead of all of them. NULL: any partition.
IN_PARTITION = "(%(retention_at)s::timestamptz IS NULL OR retention_at = %(retention_at)s)"

_CLAIM_SET = (
    "status = 'running', attempts = attempts + 1, lease_token = gen_random_uuid(), locked_by = %(worker)s, "
    "locked_at = clock_timestamp(), lease_expires_at = clock_timestamp() + make_interval(secs => %(lease)s), "
    "started_at = COALESCE(started_at, clock_timestamp()), updated_at = clock_timestamp()"
)

# One due job of one queue and tenant, highest priority first (index job_claim), taken just before it runs.
# Rows another claimer holds are skipped, never waited for. Paused types are never claimed. `more` says whether
# a second due job was seen: then the worker hands the wake-up on at once, so that other workers share the
# backlog.
_NEXT_CANDIDATES = f"""candidates AS (
    SELECT id, priority, available_at FROM jobs_job
    WHERE status = 'queued' AND queue = %(queue)s AND tenant_id = %(tenant_id)s AND available_at <= now()
      AND NOT (job_type = ANY(%(paused_types)s))
    ORDER BY priority DESC, available_at, id
    LIMIT 2 FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE jobs_job SET {_CLAIM_SET}
    WHERE id = (SELECT id FROM candidates ORDER BY priority DESC, available_at, id LIMIT 1)
    RETURNING {CLAIMED_COLUMNS}
)"""  # noqa: S608
_MORE = "(SELECT count(*) FROM candidates) > 1 AS more"

CLAIM_NEXT = f"WITH {_NEXT_CANDIDATES} SELECT claimed.*, {_MORE} FROM claimed"  # noqa: S608

# Appended to SUCCEED: the acknowledgement of one job also claims the next of its queue and tenant.
SUCCEED_CLAIM_CTE = ", " + _NEXT_CANDIDATES
SUCCEED_CLAIM_SELECT = f", claimed.*, {_MORE}"
SUCCEED_CLAIM_JOIN = " LEFT JOIN claimed ON true"

# One named job, if it is queued and due (operators' "run this job now", tests).
CLAIM_BY_ID = f"""
UPDATE jobs_job SET {_CLAIM_SET}
WHERE id = (SELECT id FROM jobs_job WHERE id = %(job_id)s AND status = 'queued' AND available_at <= now()
            AND queue <> ALL(%(scheduler_queues)s) FOR UPDATE SKIP LOCKED)
RETURNING {CLAIMED_COLUMNS}
"""  # noqa: S608

# Due jobs across tenants (synchronous processing: queue/process, run-now from the console).
CLAIM_DUE = f"""
UPDATE jobs_job SET {_CLAIM_SET}
WHERE id IN (
    SELECT id FROM jobs_job
    WHERE status = 'queued' AND available_at <= now()
      AND (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s)
      AND (%(job_type)s::text IS NULL OR job_type = %(job_type)s)
      AND (%(queues)s::text[] IS NULL OR queue = ANY(%(queues)s))
      AND NOT (job_type = ANY(%(paused_types)s))
    ORDER BY priority DESC, available_at, id
    LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING {CLAIMED_COLUMNS}
"""  # noqa: S608

# Success, fenced by the lease, with the attempt row in the same statement (one round trip). {event_cte} adds
# the job.succeeded event (outbox.services.events_from_cte over `acknowledged`) and {notify} the relay's
# wake-up; {claim_cte}, {claim_select} and {claim_join} claim the next job in the same commit. Each may be empty.
# Prepared (jobs.prepared), inside the handler's transaction: its result columns are cast, as CLAIMED_COLUMNS are.
SUCCEED = """
WITH done AS (
    UPDATE jobs_job SET status = 'succeeded', result = %(result)s::jsonb, finished_at = clock_timestamp(),
        updated_at = clock_timestamp(), lease_token = NULL, lease_expires_at = NULL, last_error = ''
    WHERE id = %(job_id)s AND status = 'running' AND lease_token = %(token)s AND {in_partition}
    RETURNING id, tenant_id, attempts, locked_at, locked_by, batch_id, has_dependants
), acknowledged AS (
    INSERT INTO jobs_jobattempt (tenant_id, job_id, attempt, worker, started_at, finished_at, outcome, error,
        traceback, duration_ms)
    SELECT tenant_id, id, attempts, locked_by, locked_at, clock_timestamp(), 'succeeded', '', '',
        GREATEST(0, (extract(epoch FROM clock_timestamp() - locked_at) * 1000)::int)
    FROM done
    RETURNING job_id
){event_cte}{claim_cte}
SELECT (SELECT job_id FROM acknowledged)::bigint, (SELECT batch_id FROM done)::bigint,
    (SELECT tenant_id FROM done WHERE has_dependants)::bigint{notify}{claim_select}
FROM (SELECT 1) AS one{claim_join}
"""

# A generic, checked move (jobs.transitions.transition builds the SET list).
TRANSITION = "UPDATE jobs_job SET {assignments} WHERE {where} RETURNING batch_id, has_dependants, tenant_id"

# A batch member moved into an end (+1) or out of one (-1, a retry) in the transaction that moved it: the row lock
# orders members ending at once, so exactly one of them sees the batch finish (finished_at set by its update).
BATCH_MEMBER_MOVED = """
UPDATE jobs_batch SET succeeded = succeeded + %(succeeded)s, failed = failed + %(failed)s,
    cancelled = cancelled + %(cancelled)s,
    finished_at = CASE WHEN succeeded + failed + cancelled + %(delta)s >= total THEN clock_timestamp() END
WHERE id = %(batch_id)s AND finished_at IS NULL
RETURNING tenant_id, total, succeeded, failed, cancelled, finished_at IS NOT NULL, on_complete_job_id,
    on_success_job_id
"""

QUEUE_OF_JOB = "SELECT queue FROM jobs_job WHERE id = %(job_id)s"

# The jobs waiting for a parent that just ended (jobs.transitions releases or cancels them).
WAITING_DEPENDANTS = """
SELECT id, queue FROM jobs_job
WHERE tenant_id = %(tenant_id)s AND depends_on_id = %(parent_id)s AND status = 'waiting'
ORDER BY id
"""

# A job about to run after `parent_id` marks it (has_dependants), unless it has already ended; the row lock orders
# this with the parent's end, so either the parent's end sees the new dependant or the enqueue sees the end.
MARK_PARENT = f"""
UPDATE jobs_job SET has_dependants = true
WHERE id = %(parent_id)s AND status NOT IN {FINISHED}
RETURNING id
"""  # noqa: S608

PARENT_STATUS = "SELECT status FROM jobs_job WHERE id = %(parent_id)s"

# Lease of the running attempt pushed forward; nothing when the lease was taken back.
EXTEND_LEASE = f"""
UPDATE jobs_job SET lease_expires_at = clock_timestamp() + make_interval(secs => %(lease)s)
WHERE id = %(job_id)s AND lease_token = %(token)s AND status = 'running' AND {IN_PARTITION}
RETURNING id
"""  # noqa: S608

# The attempt still holds the job: KEY SHARE blocks the reaper (FOR UPDATE SKIP LOCKED skips the row) but not
# the heartbeat's UPDATE, for the rest of the caller's (short) transaction.
FENCE = f"""
SELECT cancel_requested FROM jobs_job
WHERE id = %(job_id)s AND lease_token = %(token)s AND status = 'running' AND {IN_PARTITION}
FOR KEY SHARE
"""  # noqa: S608

INSERT_CHECKPOINT = """
INSERT INTO jobs_checkpoint (tenant_id, job_id, sequence, attempt, state, created_at)
SELECT %(tenant_id)s, %(job_id)s,
    COALESCE((SELECT max(c.sequence) FROM jobs_checkpoint c
              WHERE c.tenant_id = %(tenant_id)s AND c.job_id = %(job_id)s), 0) + 1,
    %(attempt)s, %(state)s::jsonb, clock_timestamp()
RETURNING sequence
"""

LAST_CHECKPOINT = "SELECT state FROM jobs_checkpoint WHERE job_id = %(job_id)s ORDER BY sequence DESC LIMIT 1"

CANCEL_REQUESTED = f"SELECT cancel_requested FROM jobs_job WHERE id = %(job_id)s AND {IN_PARTITION}"  # noqa: S608

REQUEST_CANCEL = """
UPDATE jobs_job SET cancel_requested = true, updated_at = clock_timestamp()
WHERE id = %(job_id)s AND status = 'running'
"""

INSERT_ATTEMPT = """
INSERT INTO jobs_jobattempt (tenant_id, job_id, attempt, worker, started_at, finished_at, outcome, error, error_class,
    traceback, duration_ms)
VALUES (%(tenant_id)s, %(job_id)s, %(attempt)s, %(worker)s, COALESCE(%(started_at)s::timestamptz, clock_timestamp()),
    clock_timestamp(), %(outcome)s, %(error)s, %(error_class)s, %(traceback)s,
    GREATEST(0, (extract(epoch FROM clock_timestamp() - %(started_at)s::timestamptz) * 1000)::int))
"""

# Running jobs whose lease expired: their worker died, hung or lost its connection (index job_running_lease).
EXPIRED_LEASES = f"""
SELECT {CLAIMED_COLUMNS} FROM jobs_job
WHERE status = 'running' AND lease_expires_at < now()
ORDER BY lease_expires_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
"""  # noqa: S608

# Which (queue, tenant) pairs have due work: a loose index scan over job_due, one probe per pair with queued
# jobs, so its cost follows the number of pairs, not of rows (no scan of finished or future rows).
# A suspended tenant's work waits, except its maintenance queue (a tenant purge runs only once suspended).
DUE_PAIRS = """
WITH RECURSIVE pairs AS (
    (SELECT queue, tenant_id, available_at FROM jobs_job WHERE status = 'queued'
     ORDER BY queue, tenant_id, available_at LIMIT 1)
    UNION ALL
    SELECT next.queue, next.tenant_id, next.available_at FROM pairs p CROSS JOIN LATERAL (
        SELECT queue, tenant_id, available_at FROM jobs_job
        WHERE status = 'queued' AND (queue, tenant_id) > (p.queue, p.tenant_id)
        ORDER BY queue, tenant_id, available_at LIMIT 1) next
)
SELECT p.queue, p.tenant_id FROM pairs p JOIN tenants_tenant t ON t.id = p.tenant_id
WHERE p.available_at <= now() AND (t.status = 'active' OR p.queue = 'maintenance')
LIMIT %(limit)s
"""

RUNNING_OF_TYPE = "SELECT count(*) FROM jobs_job WHERE job_type = %(job_type)s AND status = 'running'"

# The bulk of enqueue: jobs, their audit rows and (optionally) their job.created events in one statement.
# {event_cte} is outbox's insert-from-CTE fragment, or empty. Prepared (jobs.prepared): its result columns are cast,
# as CLAIMED_COLUMNS are.
ENQUEUE = """
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
        ord int, job_type text, queue text, payload jsonb, payload_hash text, priority int, run_at timestamptz,
        max_attempts int, idempotency_key text, trace_id text, correlation_id text, causation_id text,
        traceparent text, created_event_id uuid, lifecycle_events boolean, audit_data jsonb, event_data jsonb,
        status text, batch_id bigint, depends_on_id bigint)
),
job AS (
    INSERT INTO jobs_job (tenant_id, job_type, queue, payload, payload_hash, status, priority, available_at, attempts,
        max_attempts, last_error, idempotency_key, trace_id, correlation_id, causation_id, traceparent,
        created_event_id, locked_by, cancel_requested, created_at, updated_at, batch_id, depends_on_id)
    SELECT %(tenant_id)s, job_type, queue, payload, payload_hash, status, priority,
        GREATEST(COALESCE(run_at, now()), now()), 0, max_attempts, '', idempotency_key, trace_id,
        correlation_id, causation_id, traceparent, created_event_id, '', false, now(), now(), batch_id, depends_on_id
    FROM input{key_guard}
    ORDER BY ord
    RETURNING id, job_type, queue, idempotency_key, created_event_id, available_at, priority, created_at
),
created AS (
    SELECT job.*, input.ord, input.trace_id, input.correlation_id, input.causation_id, input.traceparent,
        input.lifecycle_events, input.audit_data, input.event_data
    FROM job JOIN input ON input.created_event_id = job.created_event_id
),
audit AS (
    INSERT INTO tenants_auditentry (tenant_id, actor, action, target_type, target_id, trace_id, data, at)
    SELECT %(tenant_id)s, %(actor)s, 'job.enqueued', 'job', id::text, trace_id, audit_data, now() FROM created
){event_cte}
SELECT ord::int, id::bigint, available_at <= now() AS due, priority::int, available_at::timestamptz,
    created_at::timestamptz{notify}
FROM created ORDER BY ord
"""

# ENQUEUE's {key_guard} when keys are given: a key already held, in any partition. jobs_job is partitioned, so no
# unique index can hold a tenant's keys across months: the enqueue locked its keys first (ballast.lib.key_locks), so
# a twin committed meanwhile is seen. (Without keys it is left out: it would plan a look into every partition.)
KEY_GUARD = """
    WHERE idempotency_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM jobs_job held
        WHERE held.tenant_id = %(tenant_id)s AND held.idempotency_key = input.idempotency_key)"""

# Jobs that already held the idempotency keys of a bulk enqueue (the key guard let their rows through to none).
BY_IDEMPOTENCY_KEYS = """
SELECT id, idempotency_key, payload_hash FROM jobs_job WHERE idempotency_key = ANY(%(keys)s)
"""

# The newest job of one type and payload, created within the window and in one of the states, that a unique enqueue
# returns instead of a new job (the enqueue holds the lock of that type and payload: ballast.lib.key_locks).
UNIQUE_HOLDER = """
SELECT id FROM jobs_job
WHERE job_type = %(job_type)s AND payload_hash = %(payload_hash)s AND status = ANY(%(states)s)
    AND created_at > clock_timestamp() - make_interval(secs => %(seconds)s)
ORDER BY created_at DESC LIMIT 1
"""

# Retention (partitioned_tables.py) drops a month of jobs only once every job in it has finished. Before that, queued
# jobs not due for a while (scheduled far ahead, or backing off) are carried forward into the current month, a
# bounded batch per run: a new retention_at makes Postgres move the row to that partition. Running and due jobs
# are waited for instead: a claim or an acknowledgement that meets a row moved under it fails.
# {partition}, {start} and {end} come from the catalogue; runs on the system alias.
CARRY_FORWARD = """
UPDATE jobs_job SET retention_at = statement_timestamp()
WHERE retention_at >= '{start}' AND retention_at < '{end}' AND id IN (
    SELECT id FROM {partition} WHERE status = 'queued' AND available_at > now() + interval '10 minutes'
    LIMIT 1000 FOR UPDATE SKIP LOCKED)
"""

# A dead letter goes with its job (a bounded batch per run; there are few).
DEAD_LETTERS_OF_PARTITION = """
DELETE FROM jobs_deadletter WHERE id IN (
    SELECT d.id FROM jobs_deadletter d JOIN {partition} j ON j.id = d.job_id LIMIT 10000)
"""

UNFINISHED_IN_PARTITION = f"""
SELECT 1 FROM {{partition}} WHERE status NOT IN {FINISHED}
UNION ALL SELECT 1 FROM jobs_deadletter d JOIN {{partition}} j ON j.id = d.job_id
LIMIT 1
"""  # noqa: S608

# Scheduler leadership: a lease on one row. Taken when free or expired, renewed by its holder (same token).
ACQUIRE_LEADERSHIP = """
INSERT INTO jobs_schedulerleader (id, holder, token, elected_at, renewed_at, expires_at)
VALUES (1, %(holder)s, %(token)s, clock_timestamp(), clock_timestamp(),
    clock_timestamp() + make_interval(secs => %(lease)s))
ON CONFLICT (id) DO UPDATE SET
    holder = EXCLUDED.holder, token = EXCLUDED.token, renewed_at = EXCLUDED.renewed_at,
    expires_at = EXCLUDED.expires_at,
    elected_at = CASE WHEN jobs_schedulerleader.token = EXCLUDED.token THEN jobs_schedulerleader.elected_at
                      ELSE EXCLUDED.elected_at END
WHERE jobs_schedulerleader.token = EXCLUDED.token OR jobs_schedulerleader.expires_at < clock_timestamp()
RETURNING elected_at
"""

RELEASE_LEADERSHIP = "UPDATE jobs_schedulerleader SET expires_at = clock_timestamp() WHERE token = %(token)s"

# Worker presence (jobs.worker.presence): what each live worker listens on and can run.
PUBLISH_PRESENCE = """
INSERT INTO jobs_workerpresence (identity, queues, job_types, started_at, seen_at)
VALUES (%(identity)s, %(queues)s, %(job_types)s, clock_timestamp(), clock_timestamp())
ON CONFLICT (identity) DO UPDATE SET
    queues = EXCLUDED.queues, job_types = EXCLUDED.job_types, seen_at = EXCLUDED.seen_at
"""
WITHDRAW_PRESENCE = "DELETE FROM jobs_workerpresence WHERE identity = %(identity)s"
# Rows of workers gone for an hour; the live ones are those seen within three periods.
FORGET_GONE_WORKERS = "DELETE FROM jobs_workerpresence WHERE seen_at < clock_timestamp() - interval '1 hour'"
LIVE_WORKER_TYPES = """
SELECT DISTINCT unnest(job_types) FROM jobs_workerpresence
WHERE seen_at > clock_timestamp() - make_interval(secs => %(live_seconds)s)
"""
# The job types each live worker can run (the console's worker list).
LIVE_WORKER_PRESENCE = """
SELECT identity, job_types FROM jobs_workerpresence
WHERE seen_at > clock_timestamp() - make_interval(secs => %(live_seconds)s)
"""
# Queued job types that no live worker knows, with jobs older than the grace period (a web deployed before the
# workers, or a type removed while jobs of it wait). Runs once a minute on the leader (ops.alerts).
UNKNOWN_QUEUED_TYPES = """
SELECT job_type, count(*), min(created_at) FROM jobs_job
WHERE status = 'queued' AND created_at < clock_timestamp() - make_interval(secs => %(grace)s)
  AND job_type <> ALL(%(known)s)
GROUP BY job_type ORDER BY job_type
"""
# The leader's fence: its lease is in force now (checked inside the transaction whose writes it guards).
LEADER_FENCE = "SELECT 1 FROM jobs_schedulerleader WHERE token = %(token)s AND expires_at > clock_timestamp()"

# The operator console's reads (ballast.ops.selectors), cross-tenant on the system alias. A NULL tenant_id: every
# tenant.

# Live counts, each read from a partial index's own predicate: queued jobs from job_due (an index-only scan of
# (queue, tenant_id, available_at)), running ones from job_running_lease; never a scan of the finished rows.
QUEUE_COUNTS = """
SELECT queue, count(*) FILTER (WHERE available_at <= now()) AS due, count(*) FILTER (WHERE available_at > now())
    AS scheduled, 0 AS running,
    extract(epoch FROM now() - min(available_at) FILTER (WHERE available_at <= now())) AS oldest_due_seconds
FROM jobs_job WHERE status = 'queued' AND (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s)
GROUP BY queue
UNION ALL
SELECT queue, 0, 0, count(*), NULL
FROM jobs_job WHERE status = 'running' AND (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s)
GROUP BY queue
"""

# Attempts that ended in the last hour, by queue (throughput and failures).
QUEUE_LAST_HOUR = """
SELECT j.queue, count(*) AS finished, count(*) FILTER (WHERE a.outcome <> 'succeeded') AS failures
FROM jobs_jobattempt a JOIN jobs_job j ON j.id = a.job_id
WHERE a.finished_at > now() - interval '1 hour' AND (%(tenant_id)s::bigint IS NULL OR a.tenant_id = %(tenant_id)s)
GROUP BY j.queue
"""

# Due and running jobs by type, live (job_due and job_running_lease, then their rows); scheduled ones (the many
# future jobs, which no index by type covers) from the scheduler's per-minute rollup, ops_typebacklog.
TYPE_COUNTS = """
SELECT job_type, count(*) AS due, 0 AS running FROM jobs_job WHERE status = 'queued' AND available_at <= now()
    AND (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s)
GROUP BY job_type
UNION ALL
SELECT job_type, 0, count(*) FROM jobs_job WHERE status = 'running'
    AND (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s)
GROUP BY job_type
"""

TYPE_LAST_HOUR = """
SELECT j.job_type, count(*) AS finished,
    count(*) FILTER (WHERE a.outcome <> 'succeeded') AS failures,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY a.duration_ms) AS run_p50,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY a.duration_ms) AS run_p95,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY a.duration_ms) AS run_p99,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.started_at - j.created_at) * 1000)
        FILTER (WHERE a.attempt = 1) AS wait_p50,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM a.started_at - j.created_at) * 1000)
        FILTER (WHERE a.attempt = 1) AS wait_p95,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM a.started_at - j.created_at) * 1000)
        FILTER (WHERE a.attempt = 1) AS wait_p99,
    (array_agg(a.error ORDER BY a.finished_at DESC) FILTER (WHERE a.error <> ''))[1] AS last_error
FROM jobs_jobattempt a JOIN jobs_job j ON j.id = a.job_id
WHERE a.finished_at > now() - interval '1 hour' AND (%(tenant_id)s::bigint IS NULL OR a.tenant_id = %(tenant_id)s)
GROUP BY j.job_type
"""

TENANT_HINTS = """
WITH backlog AS (
    SELECT tenant_id, count(*) AS due FROM jobs_job WHERE status = 'queued' AND available_at <= now() GROUP BY tenant_id
), failures AS (
    SELECT tenant_id, count(*) AS failures FROM jobs_jobattempt
    WHERE finished_at > now() - interval '1 hour' AND outcome <> 'succeeded' GROUP BY tenant_id
)
SELECT t.id AS tenant_id, t.slug, COALESCE(b.due, 0) AS due, COALESCE(f.failures, 0) AS failures
FROM tenants_tenant t LEFT JOIN backlog b ON b.tenant_id = t.id LEFT JOIN failures f ON f.tenant_id = t.id
WHERE b.due IS NOT NULL OR f.failures IS NOT NULL
ORDER BY COALESCE(b.due, 0) + COALESCE(f.failures, 0) DESC LIMIT 10
"""

OPEN_DEAD_LETTERS = """
SELECT d.id, d.job_id, d.job_type, d.reason, d.error, d.attempts, d.created_at, t.slug AS tenant
FROM jobs_deadletter d JOIN tenants_tenant t ON t.id = d.tenant_id
WHERE d.status = 'recorded' AND (%(tenant_id)s::bigint IS NULL OR d.tenant_id = %(tenant_id)s)
ORDER BY d.created_at DESC LIMIT %(limit)s
"""

RUNNING_LEASES = """
SELECT j.id, j.job_type, t.slug AS tenant, j.locked_by, j.lease_expires_at, j.lease_expires_at < now() AS expired
FROM jobs_job j JOIN tenants_tenant t ON t.id = j.tenant_id
WHERE j.status = 'running' ORDER BY j.lease_expires_at LIMIT %(limit)s
"""

JOB_FILTER = """
WHERE (%(tenant_id)s::bigint IS NULL OR j.tenant_id = %(tenant_id)s)
  AND (%(job_type)s::text IS NULL OR j.job_type = %(job_type)s)
  AND (%(status)s::text IS NULL OR j.status = %(status)s)
  AND (%(queue)s::text IS NULL OR j.queue = %(queue)s)
  AND (%(since)s::timestamptz IS NULL OR j.created_at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR j.created_at < %(until)s)
  AND (%(payload)s::text IS NULL OR j.payload::text ILIKE %(payload)s)
  AND (%(error)s::text IS NULL OR j.last_error ILIKE %(error)s)
"""

JOBS_FILTERED = f"""
SELECT j.id, t.slug AS tenant, j.job_type, j.queue, j.status, j.attempts, j.max_attempts, j.created_at,
    j.available_at, j.finished_at, left(j.last_error, 200) AS last_error
FROM jobs_job j JOIN tenants_tenant t ON t.id = j.tenant_id
{JOB_FILTER} AND (%(before)s::bigint IS NULL OR j.id < %(before)s)
ORDER BY j.id DESC LIMIT %(limit)s
"""  # noqa: S608 (constant fragments)

# Every match, for a bulk action.
JOB_IDS_FILTERED = f"SELECT j.tenant_id, j.id FROM jobs_job j {JOB_FILTER} ORDER BY j.id LIMIT %(limit)s"  # noqa: S608

# Jobs by id, as they are now (the jobs a bulk operation matched).
JOBS_BY_IDS = """
SELECT j.id, t.slug AS tenant, j.job_type, j.queue, j.status, j.attempts, j.max_attempts, j.created_at,
    left(j.last_error, 200) AS last_error
FROM jobs_job j JOIN tenants_tenant t ON t.id = j.tenant_id
WHERE j.id = ANY(%(ids)s) ORDER BY j.id
"""

LEADER = "SELECT holder, elected_at, expires_at > now() AS live FROM jobs_schedulerleader WHERE id = 1"

# Running jobs past their lease (index job_running_lease).
EXPIRED_LEASE_COUNT = """
SELECT count(*) FROM jobs_job WHERE status = 'running' AND lease_expires_at < now()
    AND (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s)
"""

# Dead letters recorded in the last `minutes` that are still open: a retry, a replay or a discard resolves them.
OPEN_DEAD_LETTERS_SINCE = """
SELECT count(*) FROM jobs_deadletter
WHERE status = 'recorded' AND created_at > now() - make_interval(mins => %(minutes)s)
    AND (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s)
"""

# Attempts that ended in the last `minutes`, by queue (the failure-rate alert).
FAILURE_RATES = """
SELECT j.queue, count(*) AS finished, count(*) FILTER (WHERE a.outcome <> 'succeeded') AS failures
FROM jobs_jobattempt a JOIN jobs_job j ON j.id = a.job_id
WHERE a.finished_at > now() - make_interval(mins => %(minutes)s) GROUP BY j.queue
"""
