from ballast.jobs.tests.conftest import other_tenant, processes, redis, tenant  # noqa: F401  (fixtures)
from ballast.webhooks.tests.conftest import private_networks, receiver  # noqa: F401
