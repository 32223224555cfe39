"""What a handler receives besides its payload."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from jobs import leases


class JobCancelled(Exception):
    """Raise from a handler (or let ctx.raise_if_cancelled do it) to stop cooperatively."""


class PermanentError(Exception):
    """A failure that retrying cannot fix: the job goes straight to the dead letters."""


@dataclass
class JobContext:
    tenant_id: int
    job_id: int
    attempt: int
    trace_id: str
    correlation_id: str
    lease_token: uuid.UUID
    _last_checkpoint: Any = field(default=None, repr=False)
    _checkpoint_loaded: bool = field(default=False, repr=False)

    @property
    def last_checkpoint(self) -> Any:
        """The state saved by the latest checkpoint of any attempt, or None."""
        if not self._checkpoint_loaded:
            self._last_checkpoint = leases.last_checkpoint(self.job_id)
            self._checkpoint_loaded = True
        return self._last_checkpoint

    def checkpoint(self, state: Any) -> None:
        """Save progress now, committed at once (it survives this worker). Raises LeaseLost when fenced out."""
        leases.save_checkpoint(self.tenant_id, self.job_id, self.attempt, self.lease_token, state)
        self._last_checkpoint = state
        self._checkpoint_loaded = True

    def heartbeat(self) -> None:
        """Extend the lease now (a background thread also does it while the handler runs)."""
        if not leases.extend_leases({self.job_id: self.lease_token}):
            raise leases.LeaseLost(f"Job {self.job_id} lost its lease")

    @property
    def cancel_requested(self) -> bool:
        return leases.cancel_requested(self.job_id)

    def raise_if_cancelled(self) -> None:
        if self.cancel_requested:
            raise JobCancelled(f"Job {self.job_id} was cancelled")
