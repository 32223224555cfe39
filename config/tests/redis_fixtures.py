"""pytest fixtures over config.tests.redis_servers: a private Redis this process's settings point at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ballast.lib import redis_client
from config.tests.redis_servers import RedisServer, redis_server


@pytest.fixture
def private_redis(tmp_path: Path, settings: Any) -> Iterator[RedisServer]:
    """A private redis-server that this test may kill, hang or restart; REDIS_DSN points at it here (pass
    `REDIS_DSN=private_redis.url()` to processes). The request path's breaker starts and ends closed."""
    with redis_server(tmp_path) as server:
        settings.REDIS_DSN = server.url(0)
        redis_client.REQUEST_BREAKER.reset()
        try:
            yield server
        finally:
            redis_client.REQUEST_BREAKER.reset()
