from jobs.tests.conftest import other_tenant, processes, redis, tenant  # noqa: F401  (fixtures)
from tenants.tests.conftest import make_token  # noqa: F401
