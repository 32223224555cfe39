"""The standard Django Tasks API (`@task`, `.enqueue()`, `TaskResult`) on Ballast's jobs: ballast.tasks.backend."""
