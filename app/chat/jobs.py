"""Chat's jobs: telling buyers their orders shipped, a batch at a time, after the nightly build."""
from __future__ import annotations

from app.chat import service
from app.db import transaction


def tell_buyers_shipped_job(order_ids: list[int]) -> int:
    with transaction() as s:
        return service.tell_buyers_shipped(s, order_ids=order_ids)
