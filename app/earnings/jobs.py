"""Withdrawal jobs: thin, take ids, safe to run twice (a second run looks the bill up)."""
from __future__ import annotations

import logging

from rq import Retry

from app.earnings import flows
from app.earnings.models import WithdrawalStatus
from app.queue import enqueue

log = logging.getLogger(__name__)

TRANSFER_RETRY = Retry(max=4, interval=[30, 120, 600, 1800])


def enqueue_transfer(withdrawal_id: int) -> None:
    """After the approving transaction commits (the sweep covers a lost enqueue)."""
    enqueue("app.earnings.jobs.transfer_withdrawal_job", withdrawal_id, job_id=f"withdrawal-transfer-{withdrawal_id}",
            retry=TRANSFER_RETRY)


def transfer_withdrawal_job(withdrawal_id: int) -> str:
    w = flows.transfer(withdrawal_id)
    # Still approved: no usable answer (the bill may exist). RQ's retry runs this again, and the
    # second run looks the bill up before anything is sent.
    if w.status == WithdrawalStatus.approved.value:
        raise RuntimeError(f"withdrawal {withdrawal_id}: no answer from the transfer provider yet ({w.last_error})")
    return w.status


def sweep_transfers_job() -> dict[str, int]:
    """Periodic: bills in flight looked up, unconfirmed ones past LINLI_TRANSFER_CONFIRM_TTL_H cancelled."""
    outcome = flows.sweep()
    if any(outcome.values()):
        log.info("transfer sweep: %s", outcome)
    return outcome
