from __future__ import annotations

import logging

from app.bargain import service
from app.db import transaction, utcnow

log = logging.getLogger(__name__)


def expire_bargain_records_job() -> int:
    """The periodic sweep: records past their deadline expire, in one set-based UPDATE."""
    with transaction() as s:
        n = service.expire_due(s, now=utcnow())
    if n:
        log.info("bargain sweep expired %d records", n)
    return n
