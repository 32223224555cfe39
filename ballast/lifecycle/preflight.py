"""Preflight: partitioned tables can take this period's and the next period's writes, safely."""

from __future__ import annotations

from ballast.lib.preflight import CheckFailed, preflight_check
from ballast.lifecycle.health import check_health

# What blocks a deploy; the rest (rows in a default partition, partitions past retention, bloat) is reported
# by partition_health and the console, and does not.
BLOCKING = {"missing_partition", "rls_not_forced", "missing_index"}


@preflight_check("partitions")
def partitions_ready() -> str:
    report = check_health()
    blocking = [f for f in report.findings if f.kind in BLOCKING]
    if blocking:
        raise CheckFailed("; ".join(f"{f.partition}: {f.detail}" for f in blocking) + " (see `partition_health`)")
    others = len(report.findings)
    note = f"; {others} other finding(s): run partition_health" if others else ""
    return f"{sum(report.tables.values())} partitions over {len(report.tables)} tables{note}"
