from __future__ import annotations

from app.db import transaction
from app.payment import service as payment_service


def refund_job(refund_id: int) -> None:
    with transaction() as s:
        refund = payment_service.execute_refund(s, refund_id=refund_id)
    # Raised after the commit so the error is kept; RQ retries with back-off.
    if refund is not None and refund.status not in ("succeeded", "processing"):
        raise RuntimeError(f"refund {refund_id} not accepted by {refund.provider}: {refund.error}")
