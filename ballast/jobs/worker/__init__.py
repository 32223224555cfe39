"""The worker side: take a wake-up, claim one due job at a time, run it in a transaction of its own, complete it.

- run.py: the RQ entry point and the loop over one (queue, tenant) pair
- claim.py: claiming the next due job (just before it runs)
- context.py: what a handler receives (checkpoints, fenced transactions, cancellation)
- heartbeat.py: the thread that keeps the running job's lease and the wake-up baton alive
- complete.py: how an attempt ends (success, retry, dead letter, cancellation, lost lease)
- admission.py: rate limits and concurrency caps
- timeouts.py: handler deadlines
- processing.py: running due jobs synchronously (queue/process, run-now)
- rq.py: the RQ worker class (JSON messages only)
"""
