from __future__ import annotations

import logging
from datetime import timedelta

from app.db import transaction, utcnow
from app.payment import flows as payment_flows
from app.payment import service as payment_service
from app.payment.models import RefundStatus

log = logging.getLogger(__name__)


def refund_job(refund_id: int) -> None:
    refund = payment_flows.execute_refund(refund_id=refund_id)
    # Still pending means the provider gave no usable answer: raising lets RQ retry with back-off
    # (the attempt and its error are already committed). Failed is final: no retry.
    if refund is not None and refund.status == RefundStatus.pending.value:
        raise RuntimeError(f"refund {refund_id} not accepted by {refund.provider} yet: {refund.error}")


def redrive_refunds_job(older_than_s: float | None = None) -> dict[str, int]:
    """The periodic sweep: refunds whose job was lost or ran out of retries go back to the job;
    refunds the provider has had for a while without a notification are looked up there."""
    older_than = payment_service.REDRIVE_AFTER if older_than_s is None else timedelta(seconds=older_than_s)
    with transaction() as s:
        pending, processing = payment_service.refunds_to_redrive(s, now=utcnow(), older_than=older_than)
    for refund_id in pending:
        payment_flows.redrive_refund(refund_id=refund_id)
    checked = 0
    for refund_id in processing:  # one provider call each, outside any transaction
        try:
            payment_flows.check_refund(refund_id=refund_id)
            checked += 1
        except Exception:  # noqa: BLE001 - one refund's trouble must not stop the sweep
            log.exception("checking refund %s failed", refund_id)
    if pending or processing:
        log.info("refund sweep: %d re-enqueued, %d checked with the provider", len(pending), checked)
    return {"requeued": len(pending), "checked": checked}
