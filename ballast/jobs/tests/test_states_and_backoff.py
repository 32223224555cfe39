from __future__ import annotations

import pytest

from ballast.jobs.states import ALLOWED_TRANSITIONS, IllegalTransition, JobStatus, check_transition
from ballast.lib.retry import backoff_ceiling, full_jitter


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("succeeded", "queued"),
        ("queued", "succeeded"),
        ("dlq_pending", "failed"),
        ("failed", "running"),
        ("cancelled", "running"),
        ("queued", "dlq_pending"),
    ],
)
def test_illegal_transitions_raise(current: str, target: str) -> None:
    with pytest.raises(IllegalTransition, match=f"from {current} to {target}"):
        check_transition(current, target)


def test_the_dead_letter_path_is_the_only_way_to_failed() -> None:
    into_failed = [state for state, targets in ALLOWED_TRANSITIONS.items() if JobStatus.FAILED in targets]
    assert into_failed == [JobStatus.DLQ_RECORDED]
    check_transition("running", "dlq_pending")
    check_transition("dlq_pending", "dlq_recorded")
    check_transition("dlq_recorded", "failed")


@pytest.mark.parametrize("attempt", [0, 1, 3, 6, 12])
def test_backoff_stays_within_zero_and_the_capped_exponential(attempt: int) -> None:
    base, cap = 2.0, 60.0
    ceiling = backoff_ceiling(attempt, base=base, cap=cap)
    samples = [full_jitter(attempt, base=base, cap=cap) for _ in range(2000)]

    assert ceiling == min(cap, base * 2**attempt)
    assert all(0 <= sample <= ceiling for sample in samples)
    # Full jitter: spread over the whole range, not clustered at the ceiling.
    assert min(samples) < ceiling * 0.1
    assert max(samples) > ceiling * 0.9
    assert 0.4 * ceiling < sum(samples) / len(samples) < 0.6 * ceiling
