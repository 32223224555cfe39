"""What each app contributes to the shared registries, in modules named for the registry they fill:

- `partitioned_tables.py`: its high-volume tables (ballast.lib.partitioned_tables);
- `audit_actions.py`: the audit action names it records (ballast.tenants.audit.register_actions);
- `job_handlers.py`: its job types, periodic tasks and scheduler services (ballast.jobs.registry);
- `tasks.py`: its Django Tasks (`@task`, each a job type: ballast.tasks.backend);
- `preflight.py`: its deploy checks (ballast.lib.preflight);
- `problem_types.py`: the API problem types it answers with (ballast.api.problem_details).

`load()` imports these modules from every installed app, Ballast's and the project's own, in the order of
INSTALLED_APPS. The tenants app calls it from its AppConfig.ready, so every process (web, worker, scheduler,
commands, tests) has the same registries before it serves anything.
"""

from __future__ import annotations

from django.utils.module_loading import autodiscover_modules

MODULES = ("partitioned_tables", "audit_actions", "job_handlers", "tasks", "preflight", "problem_types")


def load() -> None:
    autodiscover_modules(*MODULES)
