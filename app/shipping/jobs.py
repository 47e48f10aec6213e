"""Shipping jobs: thin, take ids, safe to run twice (every send is claimed by a conditional UPDATE)."""
from __future__ import annotations

from app.shipping import flows


def upload_shipping_job(sync_ids: list[int]) -> dict[str, int]:
    """Send each due pending sync. Transient refusals reschedule themselves (a delayed job per
    sync, with LINLI_SHIPPING_RETRY_S's waits); the redrive sweep covers a lost one."""
    outcomes: dict[str, int] = {}
    for sync_id in sync_ids:
        outcome = flows.upload(sync_id=sync_id) or "not_due"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def check_shipping_job(sync_id: int) -> str | None:
    return flows.check(sync_id=sync_id)


def redrive_shipping_job() -> dict[str, int]:
    return flows.redrive()


def sweep_shipping_job() -> dict[str, int]:
    """Daily, at LINLI_SHIPPING_SWEEP_AT: WeChat's own list of payments awaiting shipment."""
    return flows.sweep_wechat_orders()
