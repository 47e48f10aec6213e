from __future__ import annotations

from app.commission import service as commission_service
from app.db import transaction


def settle_commissions_job() -> int:
    with transaction() as s:
        return commission_service.settle_due(s)
