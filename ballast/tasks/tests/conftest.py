from ballast.jobs.tests.conftest import processes, redis, tenant  # noqa: F401  (fixtures)
