"""The scheduler side: one elected leader at a time runs its services (docs/scheduler.md).

- leader.py: leader election (a lease on one row, renewed on a ticker of its own)
- services.py: supervised services (`scheduler_service`), each in its own thread with its interval and deadline
- loop.py: the scheduler process: the leader's services (rescue, dispatch, maintenance enqueuer, owner worker)
- dispatch.py: waking (queue, tenant) pairs that have due work and no pending wake-up
- rescue.py: taking back jobs whose lease expired
- periodic.py: periodic tasks that apps register, enqueued as jobs once per slot
- owner_worker.py: the leader's worker for maintenance jobs that need the owner's DSN
"""
