"""The ground floor: mechanisms every app builds on and that know no app. Partitioning (partitioning), forced
row-level security (rls), field encryption (encryption), transaction-scoped key locks (key_locks), batched
deletes (batched_delete), trace context (tracing), the retry policies (retry), the database pool's reconnects
(db_pool), Redis clients (redis_client), the preflight registry (preflight) and the production refusals of
settings (settings_safety). Nothing here imports an app of this project."""
