"""Preflight check of the outbox: monthly partitions exist ahead (the scheduler creates them; none = lost events)."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from ballast.lib.preflight import CheckFailed, preflight_check
from ballast.outbox import partitioned_tables as partitions


@preflight_check("outbox_partitions")
def outbox_partitions() -> str:
    start = partitions.month_start(timezone.now().date())
    wanted = [
        partitions.partition_name(partitions.add_months(start, n)) for n in range(settings.OUTBOX_PARTITIONS_AHEAD + 1)
    ]
    present = set(partitions.existing_partitions(using="default"))
    missing = [name for name in wanted if name not in present]
    if missing:
        raise CheckFailed(
            f"missing {', '.join(missing)} (OUTBOX_PARTITIONS_AHEAD={settings.OUTBOX_PARTITIONS_AHEAD}): is the "
            "scheduler running with POSTGRES_OWNER_DSN?"
        )
    return f"this month and {settings.OUTBOX_PARTITIONS_AHEAD} ahead: {wanted[0]} .. {wanted[-1]}"
