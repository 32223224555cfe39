"""Signatures match the Standard Webhooks spec bit for bit; the retry schedule and Retry-After."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from ballast.webhooks import schedule, signing

# The example of the Standard Webhooks specification and its reference libraries.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = '{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_signature_matches_a_known_answer_and_an_independent_hmac() -> None:
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    independent = base64.b64encode(
        hmac.new(key, f"{MSG_ID}.{TIMESTAMP}.{BODY}".encode(), hashlib.sha256).digest()
    ).decode()

    signature = signing.sign(secret=SECRET, msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY)

    assert signature == EXPECTED == f"v1,{independent}"


def test_signed_headers_carry_id_timestamp_and_signature() -> None:
    headers = signing.signed_headers(secret=SECRET, msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY)
    assert headers == {"webhook-id": MSG_ID, "webhook-timestamp": str(TIMESTAMP), "webhook-signature": EXPECTED}


def test_a_new_secret_is_standard_webhooks_format_with_32_random_bytes() -> None:
    first, second = signing.new_secret(), signing.new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


@pytest.mark.parametrize(
    ("failed", "nominal"),
    [(1, 5), (2, 300), (3, 1800), (4, 7200), (5, 18000), (6, 36000), (7, 36000)],
)
def test_the_schedule_waits_its_nominal_delay_within_ten_percent(failed: int, nominal: float) -> None:
    delays = [schedule.scheduled_delay(failed) for _ in range(200)]
    seconds = [delay.total_seconds() for delay in delays if delay is not None]
    assert len(seconds) == 200
    assert all(nominal * 0.9 <= s <= nominal * 1.1 for s in seconds)
    assert len(set(seconds)) > 1  # jittered


def test_the_schedule_has_eight_attempts_then_gives_up() -> None:
    assert schedule.MAX_ATTEMPTS == 8
    assert schedule.scheduled_delay(8) is None
    assert schedule.next_attempt_at(8, now=datetime.now(UTC)) is None


NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", timedelta(seconds=120)),
        (" 7 ", timedelta(seconds=7)),
        (format_datetime(NOW + timedelta(hours=2), usegmt=True), timedelta(hours=2)),
        ("Mon, 23 Nov 2026 14:00:00 -0000", timedelta(hours=2)),
        (format_datetime(NOW - timedelta(hours=1), usegmt=True), timedelta(0)),
        ("999999999999", schedule.MAX_RETRY_AFTER),
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date_capped(header: str | None, expected: timedelta | None) -> None:
    assert schedule.parse_retry_after(header, now=NOW) == expected


def test_the_next_attempt_is_the_later_of_the_schedule_and_retry_after() -> None:
    asked_later = schedule.next_attempt_at(1, now=NOW, retry_after="600")
    asked_sooner = schedule.next_attempt_at(3, now=NOW, retry_after="1")

    assert asked_later == NOW + timedelta(seconds=600)
    assert asked_sooner is not None and NOW + timedelta(minutes=27) <= asked_sooner <= NOW + timedelta(minutes=33)
