from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated, current
from app.db import reading, transaction
from app.http import problem_response, respond, settings
from app.idempotency import idempotent
from app.order.rules import local_today
from app.pagination import PageQuery, decode_cursor, page_of
from app.wallet import flows, paycode, recharges, service
from app.wallet.models import PayCodeCharge
from app.wallet.schemas import (BuyerName, ChargeCreate, ChargeList, ChargePath, ChargePublic, EntryList, EntryPublic,
                                LevelCreate, LevelList, LevelPublic, PackageCreate, PackageList, PackagePublic,
                                PayCodeOut, RechargeCreate, RechargeOut, RechargePath, RechargePublic,
                                WalletPaymentInfo, WalletPublic)

bp = APIBlueprint("wallet", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="wallet", description="储值 · 会员 · 付款码: the wallet, recharges, member levels "
                                                           "and the pay code at the leader's counter")])


def charge_public(sale: PayCodeCharge, nickname: str, balance_after: int | None) -> ChargePublic:
    return ChargePublic(id=sale.id, buyer=BuyerName(nickname=nickname), amount=sale.amount,
                        balance_after=balance_after, status=sale.status, note=sale.note,
                        business_date=sale.business_date, created_at=sale.created_at, refunded_at=sale.refunded_at)


# ---- recharge packages and recharges -----------------------------------------------------------

@bp.post("/admin/recharge-packages", operation_id="create_recharge_package", responses={201: PackagePublic},
         security=BEARER, summary="Create a recharge package (充100送10: pay_amount 10000, bonus_amount 1000)")
@authenticated("admin")
def create_package(body: PackageCreate):
    with transaction() as s:
        package = recharges.create_package(s, name=body.name, pay_amount=body.pay_amount,
                                           bonus_amount=body.bonus_amount, active=body.active)
        return respond(PackagePublic.model_validate(package), 201)


@bp.get("/recharge-packages", operation_id="list_recharge_packages", responses={200: PackageList},
        summary="Recharge packages on offer, cheapest first")
def list_packages():
    with reading() as s:
        return respond(PackageList(items=[PackagePublic.model_validate(p) for p in recharges.active_packages(s)]))


@bp.post("/me/wallet/recharges", operation_id="create_recharge", security=BEARER,
         responses={201: RechargeOut,
                    404: problem_response("recharge_package_not_found (none, or not on offer)"),
                    502: problem_response("The payment provider refused (payment_provider_rejected)"),
                    503: problem_response("The payment provider is unreachable (payment_provider_unavailable)")},
         summary="Top up with a package: paid like an order (sandbox: at once); the balance grows once paid, once")
@authenticated()
def create_recharge(body: RechargeCreate):
    recharge, params, provider = flows.start_recharge(user_id=current().user_id, package_id=body.package_id)
    return respond(RechargeOut(recharge=RechargePublic.model_validate(recharge),
                               payment=WalletPaymentInfo(provider=provider, params=params)), 201)


@bp.post("/admin/wallet-recharges/<int:recharge_id>/refund", operation_id="refund_recharge",
         responses={200: RechargePublic,
                    404: problem_response("recharge_not_found"),
                    409: problem_response("balance_spent (the wallet no longer holds the recharge's principal and "
                                          "bonus); invalid_state (not paid, or refunded already)")},
         security=BEARER, summary="Refund a recharge: pay_amount back through the provider, principal and bonus "
                                  "out of the wallet")
@authenticated("admin")
def refund_recharge(path: RechargePath):
    return respond(RechargePublic.model_validate(flows.refund_recharge(recharge_id=path.recharge_id)))


# ---- the wallet ----------------------------------------------------------------------------------

@bp.get("/me/wallet", operation_id="my_wallet", responses={200: WalletPublic}, security=BEARER,
        summary="My balance (principal + bonus), growth and member level")
@authenticated()
def my_wallet():
    with reading() as s:
        account = service.get_account(s, user_id=current().user_id)
        level = service.level_for(s, growth=account.growth)
        return respond(WalletPublic(balance=account.principal + account.bonus, principal=account.principal,
                                    bonus=account.bonus, growth=account.growth,
                                    level=LevelPublic.model_validate(level) if level else None))


@bp.get("/me/wallet/entries", operation_id="my_wallet_entries", responses={200: EntryList}, security=BEARER,
        summary="My wallet's ledger, newest first")
@authenticated()
def my_entries(query: PageQuery):
    with reading() as s:
        rows = service.list_entries(s, user_id=current().user_id, before_id=decode_cursor(query.cursor),
                                    limit=query.limit)
    rows, cursor = page_of(rows, query.limit)
    return respond(EntryList(items=[EntryPublic.model_validate(e) for e in rows], next_cursor=cursor))


# ---- member levels -------------------------------------------------------------------------------

@bp.post("/admin/member-levels", operation_id="create_member_level", security=BEARER,
         responses={201: LevelPublic, 409: problem_response("member_level_exists (one already starts at min_growth)")},
         summary="Create a member level: a buyer's level is the highest whose min_growth their growth reaches")
@authenticated("admin")
def create_level(body: LevelCreate):
    with transaction() as s:
        level = service.create_level(s, name=body.name, min_growth=body.min_growth,
                                     discount_percent=body.discount_percent)
        return respond(LevelPublic.model_validate(level), 201)


@bp.get("/member-levels", operation_id="list_member_levels", responses={200: LevelList},
        summary="Member levels, lowest first")
def list_levels():
    with reading() as s:
        return respond(LevelList(items=[LevelPublic.model_validate(v) for v in service.list_levels(s)]))


# ---- the pay code ----------------------------------------------------------------------------------

@bp.post("/me/wallet/pay-code", operation_id="issue_pay_code", responses={201: PayCodeOut}, security=BEARER,
         summary="A new pay code (18 digits, single use, valid LINLI_PAY_CODE_TTL_S); the previous one is void")
@authenticated()
def issue_pay_code():
    with transaction() as s:
        code = paycode.issue_code(s, user_id=current().user_id, ttl_s=settings().pay_code_ttl_s)
        return respond(PayCodeOut(code=code.code, expires_at=code.expires_at), 201)


@bp.post("/leader/pay-code-charges", operation_id="charge_pay_code", security=BEARER,
         responses={201: ChargePublic,
                    404: problem_response("unknown_code"),
                    409: problem_response("code_used, code_expired, insufficient_balance"),
                    429: problem_response("too_many_wrong_codes (LINLI_PAY_CODE_WRONG_LIMIT unknown codes in "
                                          "LINLI_PAY_CODE_WRONG_WINDOW_S)")},
         summary="Charge a buyer's pay code at my counter (Idempotency-Key honoured): paid from their wallet, "
                 "credited to my earnings, the buyer notified at once")
@authenticated("leader")
@idempotent
def charge_pay_code(body: ChargeCreate):
    me = current()
    sale, balance, nickname = flows.charge_pay_code(settings=settings(), leader_id=me.leader_id,
                                                    pickup_point_id=me.leader_point_id, code=body.code,
                                                    amount=body.amount, note=body.note)
    return respond(charge_public(sale, nickname, balance), 201)


@bp.get("/leader/pay-code-charges", operation_id="list_pay_code_charges", responses={200: ChargeList},
        security=BEARER, summary="My counter sales, newest first")
@authenticated("leader")
def list_charges(query: PageQuery):
    with reading() as s:
        rows = paycode.list_charges(s, leader_id=current().leader_id, before_id=decode_cursor(query.cursor),
                                    limit=query.limit)
        rows, cursor = page_of(rows, query.limit)
        names = paycode.nicknames(s, user_ids=[r.buyer_id for r in rows])
    return respond(ChargeList(items=[charge_public(r, names.get(r.buyer_id, ""), None) for r in rows],
                              next_cursor=cursor))


@bp.post("/leader/pay-code-charges/<int:charge_id>/refund", operation_id="refund_pay_code_charge",
         responses={200: ChargePublic,
                    404: problem_response("charge_not_found (none, or another leader's)"),
                    409: problem_response("charge_refund_closed (not its business day), charge_already_refunded")},
         security=BEARER, summary="Refund a counter sale on its business day, once: back to the wallet, out of "
                                  "my earnings")
@authenticated("leader")
def refund_charge(path: ChargePath):
    with transaction() as s:
        sale, balance = paycode.refund_charge(s, charge_id=path.charge_id, leader_id=current().leader_id,
                                              business_date=local_today(settings()))
        nickname = paycode.buyer_nickname(s, user_id=sale.buyer_id)
        return respond(charge_public(sale, nickname, balance))
