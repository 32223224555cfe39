from ballast.jobs.tests.conftest import other_tenant, processes, redis, tenant  # noqa: F401  (fixtures)
from ballast.tenants.tests.conftest import make_token  # noqa: F401
from ballast.webhooks.tests.conftest import private_networks, receiver  # noqa: F401
