from jobs.tests.conftest import processes, redis  # noqa: F401  (fixtures)
