"""The scheduler side, run by one elected leader at a time.

- leader.py: leader election (a Postgres advisory lock on a keepalive connection)
- loop.py: the pass loop, its deadline, and the registered leader services (e.g. the outbox relay)
- dispatch.py: waking (queue, tenant) pairs that have due work and no pending wake-up
- rescue.py: taking back jobs whose lease expired
- periodic.py: periodic tasks that apps register
"""
