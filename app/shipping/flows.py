"""The use cases that call WeChat: each owns its transactions and calls WeChat between them.

- upload: a pending sync is claimed (uploading), sent, and its answer applied. An answer WeChat
  gave (taken; payment not filed yet or busy; refused) decides at once. No answer (a timeout, a
  reset, an HTTP error after the request went out) makes it uncertain: WeChat allows one change
  per payment, so it is looked up with get_order before it is ever sent again.
- check: the lookup of an uncertain sync.
- sweep: WeChat's list of payments it still holds as awaiting shipment, reconciled with ours.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from app.config import current_settings
from app.db import transaction, utcnow
from app.shipping import push, service
from app.shipping.models import SyncState
from app.wechat import WechatApiError, WechatTransient, wechat_client

log = logging.getLogger(__name__)
S = SyncState

# A first upload of a payment refused as "already shipped" (10060002) or "change already used"
# (10060003) means WeChat holds a shipment we did not know of (entered by hand in the admin
# console, or an earlier request of ours that did take): looked up, not failed.
ALREADY_SHIPPED = {10060002, 10060003}
CHECK_AFTER = timedelta(seconds=30)  # WeChat needs a moment before get_order shows an upload
CHECK_RETRY = timedelta(minutes=5)


def upload(*, sync_id: int) -> str | None:
    """Send one due pending sync. Answers the state it ended in ("retry" while pending again), or
    None when it was not ours to send (not pending, not due, another worker has it)."""
    settings = current_settings()
    now = utcnow()
    upload_time = now.astimezone(settings.tz).isoformat(timespec="milliseconds")
    with transaction() as s:
        sync = service.claim_upload(s, sync_id=sync_id, now=now, upload_time=upload_time)
    if sync is None:
        return None
    try:
        wechat_client().upload_shipping_info(service.upload_body(sync, upload_time=upload_time))
    except WechatTransient as e:
        if e.errcode is None:
            return _uncertain(sync.id, e)
        with transaction() as s:
            wait = service.after_transient(s, sync=sync, errcode=e.errcode, error=str(e),
                                           retry_s=settings.shipping_retry_s)
            if wait is None:
                return S.failed.value
            service.enqueue_uploads([sync.id], delay=wait)
        return "retry"
    except WechatApiError as e:
        if e.errcode in ALREADY_SHIPPED and sync.attempts <= 1:
            return _uncertain(sync.id, e)
        with transaction() as s:
            service.mark_failed(s, sync_id=sync.id, errcode=e.errcode, error=str(e))
        return S.failed.value
    with transaction() as s:
        service.mark_uploaded(s, sync_id=sync.id)
    return S.uploaded.value


def _uncertain(sync_id: int, e: WechatApiError) -> str:
    log.warning("shipping sync %s: no usable answer from WeChat (%s); looking it up before anything else",
                sync_id, e.errcode or type(e).__name__)
    with transaction() as s:
        service.mark_uncertain(s, sync_id=sync_id, errcode=e.errcode, error=str(e), check_at=utcnow() + CHECK_AFTER)
        service.enqueue_check(sync_id, delay=CHECK_AFTER)
    return S.uncertain.value


def check(*, sync_id: int, now=None) -> str | None:
    """Look an uncertain sync up with get_order and apply WeChat's word; a sync WeChat has no
    shipment for goes back to pending and is sent."""
    now = now or utcnow()
    with transaction() as s:
        sync = service.claim_check(s, sync_id=sync_id, now=now, retry_in=CHECK_RETRY)
    if sync is None:
        return None
    try:
        order = wechat_client().get_shipping_order(transaction_id=sync.transaction_id)
    except WechatApiError as e:
        if e.errcode == 10060001:
            # WeChat has not filed the payment at all: nothing of ours can have been taken.
            order = {"order_state": service.AWAITING}
        else:
            log.warning("shipping sync %s: get_order failed (%s); asking again later", sync_id, e.errcode)
            with transaction() as s:
                service.enqueue_check(sync_id, delay=CHECK_RETRY)
            return "retry"
    with transaction() as s:
        outcome = service.apply_lookup(s, sync_id=sync_id, order=order, retry_in=CHECK_RETRY)
        if outcome is S.pending:
            service.enqueue_uploads([sync_id])
    return outcome.value if outcome else "unchanged"


def redrive() -> dict[str, int]:
    """Every minute or so: pending syncs whose job was lost go back to the job, uncertain ones
    due for a lookup are looked up (one WeChat call each, outside any transaction)."""
    with transaction() as s:
        pending, uncertain = service.to_redrive(s, now=utcnow())
    if pending:
        service.enqueue_uploads(pending)
    checked = 0
    for sync_id in uncertain:
        try:
            check(sync_id=sync_id)
            checked += 1
        except Exception:  # noqa: BLE001 - one sync's trouble must not stop the sweep
            log.exception("shipping lookup of sync %s failed", sync_id)
    return {"requeued": len(pending), "checked": checked}


def sweep_wechat_orders(*, page_size: int = 50, max_pages: int = 200) -> dict[str, int]:
    """The daily sweep: ask get_order_list for the payments of the last LINLI_SHIPPING_SWEEP_DAYS
    days WeChat still holds as awaiting shipment (order_state 1), and reconcile each with ours:
    an arrived order with no sync is queued, a pending one made due, one we believed sent looked up."""
    settings = current_settings()
    end = utcnow()
    begin = end - timedelta(days=settings.shipping_sweep_days)
    body = {"pay_time_range": {"begin_time": int(begin.timestamp()), "end_time": int(end.timestamp())},
            "order_state": service.AWAITING, "page_size": page_size}
    outcomes: dict[str, int] = {}
    for _ in range(max_pages):
        page = wechat_client().get_shipping_order_list(body)
        for order in page.get("order_list") or []:
            txn = order.get("transaction_id") if isinstance(order, dict) else None
            if not isinstance(txn, str) or not txn:
                continue
            with transaction() as s:
                outcome = service.reconcile_awaiting(s, transaction_id=txn[:64],
                                                     merchant_trade_no=str(order.get("merchant_trade_no") or ""))
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if not page.get("has_more") or not page.get("last_index"):
            break
        body["last_index"] = page["last_index"]
    if outcomes:
        log.info("shipping sweep: %s", outcomes)
    return outcomes


def receive_push(*, query: dict, body: bytes) -> str:
    """A POSTed message push: verified (and decrypted in safe mode), then applied once."""
    settings = current_settings()
    message = push.read_push(token=settings.wechat_push_token, aes_key=settings.wechat_push_aes_key,
                             appid=settings.wechat_appid, query=query, body=body)
    with transaction() as s:
        return push.apply_push(s, message)


def set_msg_jump_path(path: str) -> None:
    wechat_client().set_msg_jump_path(path=path)
