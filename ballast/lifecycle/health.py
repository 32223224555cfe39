"""Partition health: what `manage.py partition_health`, preflight and the ops console report.

Findings, per partitioned table: a missing future partition (writes would land in the default partition, or
fail where there is none), rows in the default partition, partitions past retention still attached, bloat
(dead tuples against live ones), an index of the parent missing on a partition, row-level security not forced
on a partition. A period partitioned by tenant (lifecycle.dedicated_tenants) is checked down to its leaves: each has
forced RLS and the parent's indexes; its DEFAULT leaf holds the tenants without leaves of their own, as meant,
so it is no "rows in default" finding. Reads the catalogue and the statistics views only (and one EXISTS on
the default partition): cheap enough for every preflight.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

from django.conf import settings
from django.db import connections
from django.utils import timezone

from ballast.lib.partitioned_tables import HighVolumeTable, tables

BLOAT_MIN_DEAD_TUPLES = 10_000


@dataclass(frozen=True)
class Finding:
    table: str
    kind: str  # missing_partition | rows_in_default | past_retention | bloat | missing_index | rls_not_forced
    partition: str
    detail: str


@dataclass
class HealthReport:
    tables: dict[str, int] = field(default_factory=dict)  # partitions per table
    findings: list[Finding] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, object]:
        return {"healthy": self.healthy, "tables": self.tables, "findings": [asdict(f) for f in self.findings]}


def _missing_ahead(table: HighVolumeTable, present: set[str], today: date) -> list[Finding]:
    spec = table.spec
    start = spec.period_start(today)
    wanted = [spec.partition_name(spec.add_periods(start, n)) for n in range(settings.LIFECYCLE_PARTITIONS_AHEAD + 1)]
    # The current period and the next one are what writes need; further ones are the safety margin.
    return [
        Finding(table.table, "missing_partition", name, "no partition for this period: create it (maintenance)")
        for name in wanted[:2]
        if name not in present
    ]


def _catalogue(cursor: object, parent: str) -> list[tuple[str, bool, int, int, int, int, bool]]:
    """(partition, forced RLS, live tuples, dead tuples, size in bytes, level, partitioned) of every partition of
    `parent` at any depth: the periods (level 1) and, in a period partitioned by tenant, its leaves (level 2)."""
    cursor.execute(  # type: ignore[attr-defined]
        "SELECT c.relname, c.relforcerowsecurity, COALESCE(s.n_live_tup, 0), COALESCE(s.n_dead_tup, 0), "
        "pg_total_relation_size(c.oid), t.level, c.relkind = 'p' FROM pg_partition_tree(%s::regclass) t "
        "JOIN pg_class c ON c.oid = t.relid LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
        "WHERE t.level > 0 ORDER BY c.relname",
        [parent],
    )
    return list(cursor.fetchall())  # type: ignore[attr-defined]


_MISSING_INDEXES = """
SELECT part.relname, pidx.relname
FROM pg_inherits pi
JOIN pg_class parent ON parent.oid = pi.inhparent
JOIN pg_class part ON part.oid = pi.inhrelid
JOIN pg_index pix ON pix.indrelid = parent.oid
JOIN pg_class pidx ON pidx.oid = pix.indexrelid
WHERE parent.relname = %s
  AND NOT EXISTS (
    SELECT 1 FROM pg_inherits ii JOIN pg_index cix ON cix.indexrelid = ii.inhrelid
    WHERE ii.inhparent = pix.indexrelid AND cix.indrelid = part.oid)
ORDER BY 1, 2
"""


def check_health(*, using: str = "system", today: date | None = None) -> HealthReport:
    today = today or timezone.now().date()
    report = HealthReport()
    with connections[using].cursor() as cursor:
        for table in tables():
            spec = table.spec
            rows = _catalogue(cursor, spec.table)
            report.tables[spec.table] = sum(1 for row in rows if row[5] == 1)
            present = {name for name, *_ in rows}
            report.findings += _missing_ahead(table, present, today)
            cutoff = table.retention_cutoff(today)
            for name, forced, live, dead, size, _level, _partitioned in rows:
                if not forced:
                    report.findings.append(
                        Finding(spec.table, "rls_not_forced", name, "row-level security is not forced on it")
                    )
                if name == spec.default_name:
                    cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {name})")  # noqa: S608 (catalogue name)
                    if cursor.fetchone()[0]:
                        report.findings.append(
                            Finding(spec.table, "rows_in_default", name, "rows fell outside every time partition")
                        )
                    continue
                partition = spec.parse(name)
                if partition is not None and partition.end <= cutoff:
                    report.findings.append(
                        Finding(
                            spec.table,
                            "past_retention",
                            name,
                            f"ends {partition.end}, before the retention cutoff {cutoff}: run `manage.py retention`",
                        )
                    )
                if dead >= BLOAT_MIN_DEAD_TUPLES and dead > settings.LIFECYCLE_BLOAT_DEAD_RATIO * (live + dead):
                    report.findings.append(
                        Finding(
                            spec.table,
                            "bloat",
                            name,
                            f"{dead} dead tuples against {live} live ({size // 1024} KiB): VACUUM it",
                        )
                    )
            for parent in [spec.table] + [row[0] for row in rows if row[6]]:
                cursor.execute(_MISSING_INDEXES, [parent])
                for partition_name, index in cursor.fetchall():
                    report.findings.append(
                        Finding(spec.table, "missing_index", partition_name, f"lacks the parent's index {index}")
                    )
    return report
