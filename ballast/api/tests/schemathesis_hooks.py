"""Hooks of the fuzz test's schemathesis run (schemathesis.toml)."""

from __future__ import annotations

import itertools
from typing import Any

import schemathesis

_keys = itertools.count()


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any) -> None:
    """Values only the API can make:

    - an Idempotency-Key is unique per request (a reused one answers 422 for another request), and the generator
      cannot know which values it has sent: each request gets a fresh key;
    - a cursor is one the API handed out (anything else is 400 `invalid-cursor`): a schema-valid request goes
      without a generated one (the first page);
    - a job's `after` is one of the tenant's jobs (any other id is 400 `invalid` under `after`, test_api): a
      schema-valid job goes without a generated one.
    """
    headers = case.headers or {}
    if "Idempotency-Key" in headers:
        headers["Idempotency-Key"] = f"fuzz-{next(_keys)}"
    meta = getattr(case, "meta", None)
    if case.query and "cursor" in case.query and meta is not None and meta.generation.mode.is_positive:
        del case.query["cursor"]
    positive = meta is not None and meta.generation.mode.is_positive
    if positive and case.method.upper() == "POST" and case.path == "/api/v1/jobs" and isinstance(case.body, dict):
        case.body.pop("after", None)
