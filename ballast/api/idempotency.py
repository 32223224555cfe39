"""HTTP idempotency for mutating API requests (Stripe's semantics, the IETF Idempotency-Key draft).

Scope: tenant + credential + key. The first request with a key records itself as in flight (committed at
once, through the system alias, so concurrent repeats see it); its response is stored in the same
transaction as its business writes when it succeeds, so a crash loses both or neither. A repeat with the
same method, path and body replays the stored response with `Idempotent-Replayed: true` and does nothing
else; with another method, path or body it gets 422; while the first is in flight, 409 (safe to retry).
401, 403, 429 and 5xx responses are not stored: the client may fix the cause and retry with the key.

The records are outbox.models.IdempotencyRecord, in daily partitions that retention drops whole
(ballast.lib.partitioned_tables); an operator's invalidation is outbox.idempotency_records.invalidate.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Q
from django.http import HttpResponse
from django.utils import timezone
from rest_framework import exceptions, status
from rest_framework.request import Request

from ballast.lib import metrics
from ballast.outbox.models import MAX_CLIENT_KEY_LENGTH, IdempotencyRecord

SYSTEM = "system"
HEADERS = ("Idempotency-Key", "X-Idempotency-Key")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NOT_STORED = frozenset({401, 403, 429})
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("Content-Type", "Location")
# A view whose response shows a secret once sets this attribute to the bytes a replay may show instead.
REPLAY_BODY_ATTRIBUTE = "idempotency_replay_body"
_KEY = re.compile(rf"^[\x20-\x7e]{{1,{MAX_CLIENT_KEY_LENGTH}}}$")

# What became of each keyed request, for statistics. A higher layer registers an observer (ops counts them);
# an observer is called on the request path, so it must be cheap and must not raise.
EXECUTED, REPLAYED, CONFLICT, IN_FLIGHT = "executed", "replayed", "conflict", "in_flight"
OUTCOMES = (EXECUTED, REPLAYED, CONFLICT, IN_FLIGHT)
Observer = Callable[[str, int], None]  # (outcome, tenant_id)
_observers: list[Observer] = []


def observe(observer: Observer) -> None:
    """Call `observer(outcome, tenant_id)` for every keyed request begin() decides. Safe to call twice."""
    if observer not in _observers:
        _observers.append(observer)


def _note(outcome: str, tenant_id: int) -> None:
    metrics.idempotency(outcome)
    for observer in _observers:
        observer(outcome, tenant_id)


class RequestInFlight(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_in_flight"
    default_detail = "A request with this Idempotency-Key is still in progress; retry it later."


class KeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"


class Replay(Exception):
    def __init__(self, response: HttpResponse) -> None:
        self.response = response


@dataclass(frozen=True)
class Claim:
    record_id: int
    lock_token: uuid.UUID
    day: date  # the record's partition


def request_key(request: Request) -> str | None:
    """The client's key (or its X- alias), validated: 1 to MAX_CLIENT_KEY_LENGTH printable ASCII characters (the
    limit every store of the key agrees on, outbox.models), else 400."""
    for header in HEADERS:
        value = request.headers.get(header)
        if value is not None:
            if not _KEY.match(value):
                raise exceptions.ValidationError(
                    {"Idempotency-Key": [f"Must be 1 to {MAX_CLIENT_KEY_LENGTH} printable ASCII characters."]},
                    code="invalid",
                )
            return value
    return None


def fingerprint(method: str, path: str, body: bytes) -> str:
    """A digest of the request; JSON bodies are canonicalised, so key order and spacing do not matter."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode() if body else b""
    except (ValueError, UnicodeDecodeError, RecursionError):
        canonical = body
    return hashlib.sha256(method.encode() + b"\n" + path.encode() + b"\n" + canonical).hexdigest()


def _replay(record: IdempotencyRecord) -> HttpResponse:
    body = bytes(record.response_body or b"")
    response = HttpResponse(body, status=record.response_status or 200)
    for name, value in (record.response_headers or {}).items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def begin(*, tenant_id: int, token_id: int, key: str, method: str, path: str, body: bytes) -> Claim:
    """Record the request as in flight, or raise Replay / KeyReused / RequestInFlight (each outcome is observed)."""
    try:
        claim = _begin(tenant_id=tenant_id, token_id=token_id, key=key, method=method, path=path, body=body)
    except Replay:
        _note(REPLAYED, tenant_id)
        raise
    except KeyReused:
        _note(CONFLICT, tenant_id)
        raise
    except RequestInFlight:
        _note(IN_FLIGHT, tenant_id)
        raise
    _note(EXECUTED, tenant_id)
    return claim


# Every insert of a record, and every revival of an expired one, holds this transaction-scoped advisory lock on
# the key (the two-key form: apart from the one-key locks of the jobs engine). Records of one key can sit in two
# day partitions, and a unique key per partition cannot see across them: the lock orders first requests, and
# each statement after it (READ COMMITTED: a fresh snapshot per statement) sees what the holder before it
# committed. Decisions on a live record (replay, 422, 409, take-over) need only its row lock.
LOCK_KEY = "SELECT pg_advisory_xact_lock(hashtext('ballast.idempotency'), hashtext(%s))"
# A new key's record, unless a live record of the key exists on any day (an expired one is history: the key
# starts afresh with a new record in today's partition). Every past day is searched, not only the last TTL's:
# a record taken over or revived lives on in its first day's partition (which retention keeps meanwhile). The
# bound on `day` (tomorrow, for hosts whose clocks differ) leaves the empty partitions ahead out of the plan.
# ON CONFLICT: today's partition already holds an expired record of the key (a TTL under a day), which the
# slow path revives in place.
INSERT_UNLESS_LIVE = (
    "INSERT INTO outbox_idempotencyrecord (tenant_id, token_id, key, method, path, fingerprint, status, "
    "lock_token, locked_until, response_headers, created_at, expires_at, day) "
    "SELECT %s, %s, %s, %s, %s, %s, 'in_flight', %s, %s, '{}', %s, %s, %s "
    "WHERE NOT EXISTS (SELECT 1 FROM outbox_idempotencyrecord WHERE tenant_id = %s AND token_id = %s AND key = %s "
    "AND expires_at > %s AND day <= %s) "
    "ON CONFLICT (tenant_id, token_id, key, day) DO NOTHING RETURNING id, lock_token, day"
)


def _lock_name(tenant_id: int, token_id: int, key: str) -> str:
    return f"{tenant_id}:{token_id}:{key}"


def _begin(*, tenant_id: int, token_id: int, key: str, method: str, path: str, body: bytes) -> Claim:
    digest = fingerprint(method, path, body)
    now = timezone.now()
    lock_until = now + timedelta(seconds=settings.IDEMPOTENCY_LOCK_SECONDS)
    expires = now + timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    insert_params: list[Any] = [
        *(tenant_id, token_id, key, method, path, digest, uuid.uuid4(), lock_until, now, expires, now.date()),
        *(tenant_id, token_id, key, now, now.date() + timedelta(days=1)),
    ]
    # The common case, a new key, costs one round trip: lock and insert in one autocommit transaction, so
    # concurrent repeats see the record at once and the lock is held no longer than the insert. Asynchronous
    # commit is safe here: a crash that lost this row also lost the request's uncommitted business
    # transaction, so the key simply runs again; the business COMMIT flushes the WAL anyway.
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute(
            f"SET LOCAL synchronous_commit TO off; {LOCK_KEY}; {INSERT_UNLESS_LIVE}",
            [_lock_name(tenant_id, token_id, key), *insert_params],
        )
        cursor.nextset()  # past the SET's empty result
        cursor.nextset()  # and the lock's row, to the INSERT's
        row = cursor.fetchone()
    if row is not None:
        return Claim(row[0], row[1], row[2])
    # Bounded by tomorrow like the insert's search: the partitions ahead stay out of the plan.
    key_records = IdempotencyRecord.objects.unscoped(SYSTEM).filter(
        tenant_id=tenant_id, token_id=token_id, key=key, day__lte=now.date() + timedelta(days=1)
    )
    with transaction.atomic(using=SYSTEM):
        # The live record (at most one is), locked: replay, 422, 409 or take-over, as the key's only record.
        record = key_records.select_for_update().filter(expires_at__gt=now).first()
        if record is None:
            # None is live (the insert met today's expired record, or the live one went since it looked): the
            # key starts afresh under the key's lock, taken before any row lock. In today's partition, as in the
            # fast path; else today's expired record is revived in place (never an older day's record, which
            # retention may be dropping).
            with connections[SYSTEM].cursor() as cursor:
                cursor.execute(LOCK_KEY, [_lock_name(tenant_id, token_id, key)])
                cursor.execute(INSERT_UNLESS_LIVE, insert_params)
                row = cursor.fetchone()
            if row is not None:
                return Claim(row[0], row[1], row[2])
            live_or_today = Q(expires_at__gt=now) | Q(day=now.date())
            record = key_records.select_for_update().filter(live_or_today).order_by("-expires_at").first()
            if record is None:  # cannot happen under the lock: the insert met a live record or today's
                raise RequestInFlight()
        expired = record.expires_at <= now
        abandoned = record.status == IdempotencyRecord.Status.IN_FLIGHT and record.locked_until <= now
        if not expired and (record.method, record.path, record.fingerprint) != (method, path, digest):
            raise KeyReused(
                f"This Idempotency-Key was used for {record.method} {record.path} with another body; use a new key."
            )
        if not expired and record.status == IdempotencyRecord.Status.COMPLETED:
            raise Replay(_replay(record))
        if not expired and not abandoned:
            raise RequestInFlight()
        # Expired today, or its request died before finishing (nothing of it committed): the key starts afresh,
        # in place. The record keeps its day; retention keeps a partition while it holds a live record.
        record.method, record.path, record.fingerprint = method, path, digest
        record.status = IdempotencyRecord.Status.IN_FLIGHT
        record.lock_token = uuid.uuid4()
        record.locked_until, record.expires_at = lock_until, expires
        record.response_status, record.response_headers, record.response_body = None, {}, None
        record.save(using=SYSTEM)
        return Claim(record.pk, record.lock_token, record.day)


def complete(claim: Claim, response: HttpResponse, *, using: str) -> bool:
    """Store the response. On the app alias it joins the business transaction (must run in tenant_scope).
    False when this request no longer holds the key (it ran past IDEMPOTENCY_LOCK_SECONDS and another
    request took the key over): the caller must then not commit its business writes."""
    headers = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
    with connections[using].cursor() as cursor:
        cursor.execute(
            "UPDATE outbox_idempotencyrecord SET status = 'completed', response_status = %s, "
            "response_headers = %s::jsonb, response_body = %s WHERE id = %s AND day = %s AND lock_token = %s",
            [
                response.status_code,
                json.dumps(headers),
                _stored_body(response),
                claim.record_id,
                claim.day,
                claim.lock_token,
            ],
        )
        return cursor.rowcount == 1


def _stored_body(response: HttpResponse) -> bytes:
    """Never a secret shown once: such a response carries its redacted replay body."""
    replay_body = getattr(response, REPLAY_BODY_ATTRIBUTE, None)
    return response.content if replay_body is None else bytes(replay_body)


def release(claim: Claim) -> None:
    """Forget an in-flight record whose response is not to be stored, so the key can be retried."""
    IdempotencyRecord.objects.unscoped(SYSTEM).filter(
        pk=claim.record_id, day=claim.day, lock_token=claim.lock_token, status=IdempotencyRecord.Status.IN_FLIGHT
    ).delete()


def finish(claim: Claim, response: HttpResponse, *, committed_with_business: bool) -> bool:
    """After the view: store or release. 2xx/3xx go with the business transaction; other stored answers
    (400, 404, 409, 422 ...) are written on their own, since their transaction is rolled back. False when the
    key was taken over meanwhile (see complete)."""
    code = response.status_code
    if code in NOT_STORED or code >= 500:
        release(claim)
        return True
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    return complete(claim, response, using="default" if committed_with_business and code < 400 else SYSTEM)


def derived_key(method: str, path: str, body: bytes) -> str:
    return "derived:" + fingerprint(method, path, body)
