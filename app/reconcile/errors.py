"""The reconciliation domain's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import Conflict


class ReconciliationRunning(Conflict):
    """Another run of the same date holds it (a job and the CLI at once)."""

    code = "reconciliation_running"
