from ballast.jobs.tests.conftest import redis, tenant  # noqa: F401  (fixtures)
from ballast.tenants.tests.conftest import make_token  # noqa: F401  (fixture)
