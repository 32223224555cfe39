"""The emails app's partitioned table: deliveries, by month."""

from __future__ import annotations

from ballast.jobs import sql as jobs_sql
from ballast.lib.partitioned_tables import HighVolumeTable, days, register
from ballast.lib.partitioning import RangePartitioned

# A month of email deliveries is kept while a delivery in it is not sent or failed and its email.send job has
# not finished: that job will still read the row (retries, an `unknown` outcome sent again). Found through the
# partial index emaildelivery_unfinished.
_UNFINISHED_EMAIL_DELIVERY = (
    "SELECT 1 FROM {partition} d JOIN jobs_job j ON j.id = d.job_id "  # noqa: S608 (constants)
    "WHERE d.status IN ('pending', 'sending', 'unknown') "
    f"AND j.status NOT IN {jobs_sql.FINISHED} LIMIT 1"
)

register(
    HighVolumeTable(
        RangePartitioned("emails_emaildelivery", "created_at", "month"),
        "RETENTION_EMAIL_DELIVERIES_DAYS",
        days("RETENTION_EMAIL_DELIVERIES_DAYS"),
        keep_if=_UNFINISHED_EMAIL_DELIVERY,
        keep_reason="holds an email delivery whose job has not finished",
    )
)
