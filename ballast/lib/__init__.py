"""The ground floor: mechanisms every app builds on and that know no app. Partitioning (partitioning), forced
row-level security (rls), field encryption (encryption), transaction-scoped key locks (key_locks), batched
deletes (batched_delete), trace context (tracing), and the retry policies (retry). Nothing here imports an
app of this project."""
