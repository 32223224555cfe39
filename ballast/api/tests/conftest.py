from ballast.jobs.tests.conftest import other_tenant, redis, tenant  # noqa: F401  (fixtures)
from config.tests.redis_fixtures import private_redis  # noqa: F401  (fixture)
