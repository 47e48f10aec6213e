"""After-sales jobs: the SLA sweep (requests a leader let sit past LINLI_AFTER_SALE_SLA_H escalate)."""
from __future__ import annotations

import logging

from app.aftersales import flows

log = logging.getLogger(__name__)


def escalate_overdue_after_sales_job() -> int:
    n = flows.escalate_overdue()
    if n:
        log.info("after-sales: %d request(s) escalated past the SLA", n)
    return n
