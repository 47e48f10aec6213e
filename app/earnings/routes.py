from __future__ import annotations

from flask import Response, request
from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated, current
from app.db import reading, transaction
from app.earnings import flows, jobs, service, statements, withdrawals
from app.earnings.models import Withdrawal, WithdrawalStatus
from app.earnings.schemas import (EarningsPublic, EntryPublic, ReviewBody, StatementPath, StatementPublic,
                                  StatementQuery, WithdrawalCreate, WithdrawalList, WithdrawalPath, WithdrawalPublic,
                                  WithdrawalQuery)
from app.errors import NotFound
from app.extensions import limiter
from app.http import problem_response, respond, settings
from app.idempotency import idempotent
from app.pagination import PageQuery, decode_cursor, page_of

bp = APIBlueprint("earnings", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="earnings", description="Leader earnings, withdrawals (团长提现) and statements")])


def withdrawal_public(w: Withdrawal) -> WithdrawalPublic:
    s = settings()
    waiting = w.status == WithdrawalStatus.awaiting_confirmation.value and w.package_info
    return WithdrawalPublic(
        id=w.id, leader_id=w.leader_id, status=w.status, amount=w.amount, fee=w.fee, transfer_amount=w.transfer_amount,
        out_bill_no=w.out_bill_no, package_info=w.package_info if waiting else None,
        mch_id=s.wechatpay_mchid or None if waiting else None, app_id=s.wechat_appid if waiting else None,
        fail_reason=w.fail_reason, reject_reason=w.reject_reason, created_at=w.created_at, updated_at=w.updated_at)


def _list(rows, limit) -> Response:
    rows, cursor = page_of(rows, limit)
    return respond(WithdrawalList(items=[withdrawal_public(w) for w in rows], next_cursor=cursor))


@bp.get("/leader/earnings", operation_id="my_earnings", responses={200: EarningsPublic}, security=BEARER,
        summary="My earnings: available, frozen (in withdrawals), withdrawn, and the ledger, newest first")
@authenticated("leader")
def my_earnings(query: PageQuery):
    leader_id = current().leader_id
    with reading() as s:
        account = service.get_account(s, leader_id=leader_id)
        rows = service.list_entries(s, leader_id=leader_id, before_id=decode_cursor(query.cursor), limit=query.limit)
    rows, cursor = page_of(rows, query.limit)
    items = [EntryPublic(id=e.id, amount=e.amount, kind=e.kind, balance_after=e.balance_after, ref=e.source,
                         created_at=e.created_at) for e in rows]
    return respond(EarningsPublic(available=account.available, frozen=account.frozen, withdrawn=account.withdrawn,
                                  clawback_owed=account.clawback_owed, items=items, next_cursor=cursor))


@bp.post("/leader/withdrawals", operation_id="request_withdrawal", security=BEARER,
         responses={201: WithdrawalPublic,
                    409: problem_response("insufficient_earnings, withdrawal_limit_reached (LINLI_WITHDRAW_DAILY_COUNT)"),
                    422: problem_response("validation_error, withdrawal_below_minimum (LINLI_WITHDRAW_MIN)")},
         summary="Withdraw earnings (Idempotency-Key honoured): the amount leaves available at once; reviewing "
                 "(or transferred at once below LINLI_WITHDRAW_AUTO_APPROVE)")
@authenticated("leader")
@idempotent
def request_withdrawal(body: WithdrawalCreate):
    with transaction() as s:
        w = withdrawals.request_withdrawal(s, settings=settings(), leader_id=current().leader_id, amount=body.amount)
        if w.status == WithdrawalStatus.approved.value:
            jobs.enqueue_transfer(w.id)
        return respond(withdrawal_public(w), 201)


@bp.get("/leader/withdrawals", operation_id="my_withdrawals", responses={200: WithdrawalList}, security=BEARER,
        summary="My withdrawals, newest first")
@authenticated("leader")
def my_withdrawals(query: WithdrawalQuery):
    with reading() as s:
        rows = withdrawals.list_withdrawals(s, leader_id=current().leader_id, status=query.status,
                                            before_id=decode_cursor(query.cursor), limit=query.limit)
    return _list(rows, query.limit)


@bp.get("/leader/withdrawals/<int:withdrawal_id>", operation_id="my_withdrawal", security=BEARER,
        responses={200: WithdrawalPublic, 404: problem_response("withdrawal_not_found (none, or another leader's)")},
        summary="One of my withdrawals; while it awaits my confirmation, package_info for wx.requestMerchantTransfer")
@authenticated("leader")
def my_withdrawal(path: WithdrawalPath):
    with reading() as s:
        w = withdrawals.get_for_leader(s, leader_id=current().leader_id, withdrawal_id=path.withdrawal_id)
    return respond(withdrawal_public(w))


@bp.get("/admin/withdrawals", operation_id="list_withdrawals", responses={200: WithdrawalList}, security=BEARER,
        summary="Withdrawals, newest first; ?status=reviewing lists those to decide")
@authenticated("admin")
def list_withdrawals(query: WithdrawalQuery):
    with reading() as s:
        rows = withdrawals.list_withdrawals(s, leader_id=None, status=query.status,
                                            before_id=decode_cursor(query.cursor), limit=query.limit)
    return _list(rows, query.limit)


@bp.post("/admin/withdrawals/<int:withdrawal_id>/approve", operation_id="approve_withdrawal", security=BEARER,
         responses={200: WithdrawalPublic, 404: problem_response("withdrawal_not_found"),
                    409: problem_response("invalid_state (not reviewing)")},
         summary="Approve: WeChat Pay is asked for the transfer bill (scene 1005); the answer's state is shown")
@authenticated("admin")
def approve_withdrawal(path: WithdrawalPath, body: ReviewBody):
    w = flows.approve(path.withdrawal_id)
    return respond(withdrawal_public(w))


@bp.post("/admin/withdrawals/<int:withdrawal_id>/reject", operation_id="reject_withdrawal", security=BEARER,
         responses={200: WithdrawalPublic, 404: problem_response("withdrawal_not_found"),
                    409: problem_response("invalid_state (not reviewing)")},
         summary="Reject: the amount goes back to the leader's available earnings")
@authenticated("admin")
def reject_withdrawal(path: WithdrawalPath, body: ReviewBody):
    with transaction() as s:
        withdrawals.reject(s, withdrawal_id=path.withdrawal_id, reason=body.reason)
        return respond(withdrawal_public(withdrawals.get(s, path.withdrawal_id)))


@bp.post("/admin/withdrawals/<int:withdrawal_id>/check", operation_id="check_withdrawal", security=BEARER,
         responses={200: WithdrawalPublic, 404: problem_response("withdrawal_not_found")},
         summary="Look the withdrawal's transfer bill up at WeChat Pay now (what the sweep does), and apply it")
@authenticated("admin")
def check_withdrawal(path: WithdrawalPath):
    return respond(withdrawal_public(flows.check(path.withdrawal_id)))


@bp.post("/payments/wechatpay/transfer-notify", operation_id="wechatpay_transfer_notify",
         responses={204: None, 400: problem_response("Unreadable or ill-formed notification (bad_notification), or "
                                                     "one for a bill linli never issued (unknown_bill)"),
                    401: problem_response("Signature (signature_invalid) or age (notification_stale) check failed")},
         summary="WeChat Pay merchant-transfer notifications (MCHTRANSFER.BILL.FINISHED): verified and decrypted "
                 "like payment notifications; SUCCESS → paid, FAIL/CANCELLED → failed and returned, once")
@limiter.exempt
def wechatpay_transfer_notify():
    if settings().payment_provider != "wechatpay":
        raise NotFound("WeChat Pay is not configured on this server.")
    event = flows.gateway().parse_notification(request.headers, request.get_data(as_text=True))
    if event is not None:
        flows.on_notification(event)
    return Response(status=204)


@bp.get("/leader/statements/<month>", operation_id="my_statement", responses={200: StatementPublic},
        security=BEARER, summary="My statement for a month (YYYY-MM): opening and closing balance, commissions and "
                                 "counter sales by day, withdrawals; ?format=csv|pdf for files")
@authenticated("leader")
def my_statement(path: StatementPath, query: StatementQuery):
    leader_id = current().leader_id
    with reading() as s:
        m = statements.build(s, settings=settings(), leader_id=leader_id, month=path.month)
    stem = f"statement-{path.month}-leader-{leader_id}"
    if query.format == "csv":
        return _file(statements.to_csv(m), "text/csv; charset=utf-8", f"{stem}.csv")
    if query.format == "pdf":
        return _file(statements.to_pdf(m), "application/pdf", f"{stem}.pdf")
    return respond(m)


def _file(body: bytes, mimetype: str, filename: str) -> Response:
    resp = Response(body, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp

