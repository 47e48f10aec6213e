"""Withdrawal use cases with a WeChat Pay call in the middle: each owns its transactions, and no
call is made while one is open.

Never two bills for one withdrawal: `out_bill_no` derives from the withdrawal's id (WeChat Pay
makes at most one bill per number), `requested_at` is set before a request goes out, and once it
is set the bill is looked up (GET .../out-bill-no/{no}) before any new request: only a look-up
that finds no bill lets the request be sent again."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app

from app.auth import service as auth_service
from app.config import Settings
from app.db import reading, transaction, utcnow
from app.earnings import withdrawals
from app.earnings.errors import UnknownBill
from app.earnings.models import Withdrawal, WithdrawalStatus
from app.leader import service as leader_service
from app.payment.gateways import transfers_of
from app.payment.transfers import (TransferEvent, TransferGateway, TransferRequest, TransferResult,
                                   withdrawal_id_from_bill_no)

log = logging.getLogger(__name__)
S = WithdrawalStatus

# 佣金报酬 (scene 1005) asks for these two report infos on every bill.
JOB_TYPE = "社区团长"


def gateway() -> TransferGateway:
    return transfers_of(current_app.extensions["linli.payment_provider"])


def _settings() -> Settings:
    return current_app.extensions["linli.settings"]


def _load(withdrawal_id: int) -> Withdrawal:
    with reading() as s:
        return withdrawals.get(s, withdrawal_id)


def _transfer_request(s, w: Withdrawal) -> TransferRequest:
    leader = leader_service.get_leader(s, w.leader_id)
    openid = auth_service.openid_of(s, user_id=leader.user_id)
    return TransferRequest(
        out_bill_no=w.out_bill_no, openid=openid, amount=w.transfer_amount, remark=f"团长佣金提现 #{w.id}",
        user_name=leader.real_name,
        report_infos=[{"info_type": "岗位类型", "info_content": JOB_TYPE},
                      {"info_type": "报酬说明", "info_content": f"团长佣金提现{w.transfer_amount / 100:.2f}元"[:32]}])


def _apply(withdrawal_id: int, result: TransferResult) -> None:
    with transaction() as s:
        if result.outcome == "bill":
            withdrawals.apply_bill(s, withdrawal_id=withdrawal_id, state=result.state,
                                   transfer_bill_no=result.transfer_bill_no, package_info=result.package_info,
                                   fail_reason=result.fail_reason)
        elif result.outcome == "rejected":
            withdrawals.refused_for_good(s, withdrawal_id=withdrawal_id,
                                         reason=f"{result.fail_reason or 'REJECTED'}: {result.detail}")
        else:  # unknown: the bill may exist; the next look-up tells
            withdrawals.note_error(s, withdrawal_id=withdrawal_id, error=result.detail or result.outcome)


def approve(withdrawal_id: int) -> Withdrawal:
    """The operator's approval, then the transfer request (outside the approving transaction)."""
    with transaction() as s:
        withdrawals.approve(s, withdrawal_id=withdrawal_id)
    return transfer(withdrawal_id)


def transfer(withdrawal_id: int, gw: TransferGateway | None = None) -> Withdrawal:
    """Ask WeChat Pay for the approved withdrawal's bill, once; a request already made (its
    answer lost, or still coming) is looked up instead."""
    gw = gw or gateway()
    with transaction() as s:
        w = withdrawals.get(s, withdrawal_id)
        if w.status != S.approved.value:
            return w
        if w.requested_at is not None:
            claimed = False
        else:
            claimed = withdrawals.claim_request(s, withdrawal_id=withdrawal_id)
            req = _transfer_request(s, w)
    if not claimed:
        return check(withdrawal_id, gw=gw, resend=False)
    _apply(withdrawal_id, gw.transfer(req))
    return _load(withdrawal_id)


def check(withdrawal_id: int, *, gw: TransferGateway | None = None, now: datetime | None = None,
          resend: bool = True) -> Withdrawal:
    """Where the withdrawal's bill is: looked up at WeChat Pay and applied; a bill that was never
    made is requested (again, with the same number) when `resend`; one the leader has not
    confirmed within LINLI_TRANSFER_CONFIRM_TTL_H is cancelled."""
    gw = gw or gateway()
    now = now or utcnow()
    w = _load(withdrawal_id)
    if w.status not in (S.approved.value, S.awaiting_confirmation.value):
        return w
    if w.status == S.approved.value and w.requested_at is None:
        return transfer(withdrawal_id, gw) if resend else w
    result = gw.query(w.out_bill_no)
    if result.outcome == "not_found":
        if w.status == S.approved.value:
            with transaction() as s:
                released = withdrawals.release_request(s, withdrawal_id=withdrawal_id, seen=w.requested_at)
            if released and resend:
                return transfer(withdrawal_id, gw)
            return _load(withdrawal_id)
        result = TransferResult(outcome="unknown", detail="a bill WeChat Pay had answered for is not found")
    _apply(withdrawal_id, result)
    w = _load(withdrawal_id)
    if withdrawals.confirm_deadline_passed(w, settings=_settings(), now=now):
        log.info("withdrawal %s: bill %s unconfirmed since %s, cancelling", w.id, w.out_bill_no, w.bill_created_at)
        cancelled = gw.cancel(w.out_bill_no)
        if cancelled.outcome != "bill":  # e.g. confirmed meanwhile: the look-up says what it is now
            cancelled = gw.query(w.out_bill_no)
        if cancelled.outcome in ("bill", "unknown"):
            _apply(withdrawal_id, cancelled)
        w = _load(withdrawal_id)
    return w


def on_notification(event: TransferEvent) -> None:
    """MCHTRANSFER.BILL.FINISHED: SUCCESS → paid; FAIL / CANCELLED → failed and returned, once."""
    withdrawal_id = withdrawal_id_from_bill_no(event.out_bill_no)
    with transaction() as s:
        w = withdrawals.by_bill_no(s, event.out_bill_no) if withdrawal_id else None
        if w is None:
            raise UnknownBill(f"No withdrawal has bill {event.out_bill_no}.")
        withdrawals.apply_bill(s, withdrawal_id=w.id, state=event.state, transfer_bill_no=event.transfer_bill_no,
                               fail_reason=event.fail_reason)


def sweep(*, quiet_for: timedelta = timedelta(minutes=1), now: datetime | None = None) -> dict[str, int]:
    """Bills in flight are looked up (and requests whose job was lost are sent); each withdrawal
    on its own, so that one's trouble does not stop the others."""
    now = now or utcnow()
    with reading() as s:
        ids = withdrawals.in_flight(s, quiet_since=now - quiet_for)
    gw = gateway()
    outcome = {"checked": 0, "paid": 0, "failed": 0, "errors": 0}
    for withdrawal_id in ids:
        try:
            w = check(withdrawal_id, gw=gw, now=now)
        except Exception:  # noqa: BLE001
            log.exception("checking withdrawal %s failed", withdrawal_id)
            outcome["errors"] += 1
            continue
        outcome["checked"] += 1
        if w.status in (S.paid.value, S.failed.value):
            outcome[w.status] += 1
    return outcome
