"""WeChat Pay's bill APIs for the local fake (tests/fakes/wechatpay.py), built from what the fake
processed: the payments it notified, the refunds it was asked for (or that were made "by hand" in
the merchant platform), and the transfers the transfer endpoints record (`record_transfer`).

Served as WeChat Pay serves them: GET /v3/bill/tradebill and /v3/bill/fundflowbill answer
`{hash_type: SHA1, hash_value, download_url}` signed like every answer (or 400
NO_STATEMENT_EXIST for a day without lines, STATEMENT_CREATING while `not_ready` says so); the
download_url (GET /v3/billdownload/file?token=..., merchant-signed like any request) answers the
file unsigned, gzipped when asked (tar_type=GZIP), its SHA1 taken of the uncompressed file. The
file: a header, detail lines with every field backtick-prefixed, amounts in yuan, then the summary
header and its line.

A test plants discrepancies by changing what the bill says: `hide(ref)` leaves a line out,
`change(ref, amount)` shows another amount (ref: out_trade_no, out_refund_no or out_bill_no).
"""
from __future__ import annotations

import gzip
import hashlib
import re
import secrets
import threading
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from werkzeug.wrappers import Request, Response

CST = timezone(timedelta(hours=8))

TRADE_HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
                "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,"
                "商户数据包,手续费,费率,订单金额,申请退款金额,费率备注")
TRADE_SUMMARY = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
FUND_HEADER = "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号"
FUND_SUMMARY = "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额"
# WeChat Pay's refund states (API) as the trade bill writes them.
BILL_REFUND_STATE = {"SUCCESS": "SUCCESS", "PROCESSING": "PROCESSING", "CLOSED": "FAIL", "ABNORMAL": "CHANGE"}
FEE_RATE = Decimal("0.006")


def yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


def _line(values: list[Any]) -> str:
    return ",".join(f"`{v}" for v in values)


def _day_of(iso: str) -> date:
    return datetime.fromisoformat(iso).astimezone(CST).date()


def _clock(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


class FakeBills:
    def __init__(self, fake: Any):
        self.fake = fake  # the FakeWechatPay this belongs to (its merchant, its refunds)
        self.reset()

    def reset(self) -> None:
        self.payments: dict[str, dict[str, Any]] = {}  # transaction_id → the resource notified
        self.transfers: dict[str, dict[str, Any]] = {}  # out_bill_no → transfer
        self.hidden: set[str] = set()
        self.changed: dict[str, int] = {}
        self.not_ready: dict[str, int] = {}  # bill date → answers of STATEMENT_CREATING still to give
        self.corrupt_downloads = 0  # the next downloads have a byte changed (a broken transfer)
        self.files: dict[str, tuple[bytes, bool]] = {}  # token → (file, gzipped)
        # Cleared, bill applications wait at the door until it is set (a run "waiting on WeChat").
        self.gate = threading.Event()
        self.gate.set()
        self.applying = threading.Event()

    # ---- what the fake processed --------------------------------------------------------------

    def record_payment(self, resource: dict[str, Any]) -> None:
        """A successful payment the fake notified (whether or not the merchant ever received it)."""
        self.payments[resource["transaction_id"]] = resource

    def record_transfer(self, out_bill_no: str, amount: int, *, state: str = "SUCCESS", at: datetime | None = None,
                        transfer_bill_no: str | None = None) -> None:
        """A transfer to a user: SUCCESS ones left the account (the fund-flow bill lists them)."""
        self.transfers[out_bill_no] = {
            "out_bill_no": out_bill_no, "amount": amount, "state": state,
            "transfer_bill_no": transfer_bill_no or f"1330{uuid.uuid4().int % 10**36:036d}",
            "at": (at or datetime.now(CST)).astimezone(CST).isoformat(timespec="seconds")}

    def transfer_changed(self, bill: dict[str, Any]) -> None:
        """The merchant-transfer fake's listener (tests/fakes/wechatpay_transfers.py): each bill
        as it is made or moved on; a SUCCESS one left the account when it became SUCCESS."""
        self.record_transfer(bill["out_bill_no"], bill["transfer_amount"], state=bill["state"],
                             at=datetime.fromisoformat(bill["update_time"]), transfer_bill_no=bill["transfer_bill_no"])

    def refund_by_hand(self, *, out_refund_no: str, transaction_id: str, out_trade_no: str, amount: int, total: int,
                       at: datetime | None = None, status: str = "SUCCESS") -> None:
        """A refund made in the merchant platform, not through the API: the merchant's system never heard of it."""
        when = (at or datetime.now(CST)).astimezone(CST).isoformat(timespec="seconds")
        self.fake.refunds[out_refund_no] = {
            "refund_id": f"50000{uuid.uuid4().int % 10**24:024d}", "out_refund_no": out_refund_no,
            "transaction_id": transaction_id, "out_trade_no": out_trade_no, "status": status, "create_time": when,
            "success_time": when if status == "SUCCESS" else None,
            "amount": {"total": total, "refund": amount, "payer_total": total, "payer_refund": amount}}

    def hide(self, ref: str) -> None:
        self.hidden.add(ref)

    def change(self, ref: str, amount: int) -> None:
        self.changed[ref] = amount

    # ---- the files ----------------------------------------------------------------------------

    def _payments_of(self, day: date) -> list[dict[str, Any]]:
        return sorted((p for p in self.payments.values()
                       if _day_of(p["success_time"]) == day and p["out_trade_no"] not in self.hidden),
                      key=lambda p: p["success_time"])

    def _refunds_of(self, day: date) -> list[dict[str, Any]]:
        return sorted((r for r in self.fake.refunds.values()
                       if _day_of(r["create_time"]) == day and r["out_refund_no"] not in self.hidden),
                      key=lambda r: r["create_time"])

    def _transfers_of(self, day: date) -> list[dict[str, Any]]:
        return [t for t in self.transfers.values()
                if t["state"] == "SUCCESS" and _day_of(t["at"]) == day and t["out_bill_no"] not in self.hidden]

    def _out_trade_no(self, refund: dict[str, Any]) -> str:
        if refund.get("out_trade_no"):
            return refund["out_trade_no"]
        paid = self.payments.get(refund.get("transaction_id", ""))
        return paid["out_trade_no"] if paid else ""

    def trade_bill(self, day: date) -> str | None:
        lines, total, refunded, fees = [], 0, 0, Decimal(0)
        for p in self._payments_of(day):
            amount = self.changed.get(p["out_trade_no"], p["amount"]["total"])
            fee = Decimal(amount) / 100 * FEE_RATE
            total, fees = total + amount, fees + fee
            lines.append(_line([_clock(p["success_time"]), self.fake.appid, self.fake.mchid, "0", "",
                                p["transaction_id"], p["out_trade_no"], p["payer"]["openid"], "JSAPI", "SUCCESS",
                                "OTHERS", "CNY", yuan(amount), "0.00", "0", "0", "0.00", "0.00", "", "",
                                "linli order", "", f"{fee:.5f}", "0.60%", yuan(amount), "0.00", ""]))
        for r in self._refunds_of(day):
            amount = self.changed.get(r["out_refund_no"], r["amount"]["refund"])
            refunded += amount
            lines.append(_line([_clock(r["create_time"]), self.fake.appid, self.fake.mchid, "0", "",
                                r.get("transaction_id", ""), self._out_trade_no(r), "buyer-openid", "JSAPI", "REFUND",
                                "OTHERS", "CNY", "0.00", "0.00", r["refund_id"], r["out_refund_no"], yuan(amount),
                                "0.00", "ORIGINAL", BILL_REFUND_STATE.get(r["status"], r["status"]), "linli order",
                                "", "0.00000", "0.60%", "0.00", yuan(amount), ""]))
        if not lines:
            return None
        summary = _line([len(lines), yuan(total), yuan(refunded), "0.00", f"{fees:.5f}", yuan(total), yuan(refunded)])
        return "\r\n".join([TRADE_HEADER, *lines, TRADE_SUMMARY, summary]) + "\r\n"

    def fund_flow_bill(self, day: date) -> str | None:
        moves = []  # (time, wechat_no, name, type, income, fen, remark, voucher)
        for p in self._payments_of(day):
            amount = p["amount"]["total"]
            fee = int((Decimal(amount) * FEE_RATE).quantize(Decimal(1)))
            moves.append((p["success_time"], p["transaction_id"], "交易", "交易", True, amount, "", p["out_trade_no"]))
            if fee:
                moves.append((p["success_time"], p["transaction_id"], "交易", "扣除交易手续费", False, fee, "",
                              p["out_trade_no"]))
        for r in self._refunds_of(day):
            if r["status"] == "SUCCESS":
                amount = r["amount"]["refund"]
                moves.append((r["success_time"] or r["create_time"], r["refund_id"], "退款", "退款", False, amount,
                              f"退款总金额{yuan(amount)}元;含手续费0.00元", r["out_refund_no"]))
        for t in self._transfers_of(day):
            amount = self.changed.get(t["out_bill_no"], t["amount"])
            moves.append((t["at"], t["transfer_bill_no"], "商家转账", "商家转账", False, amount, "佣金报酬",
                          t["out_bill_no"]))
        if not moves:
            return None
        moves.sort(key=lambda m: m[0])
        balance, lines = 1_000_000, []
        for at, wechat_no, name, kind, income, amount, remark, voucher in moves:
            balance += amount if income else -amount
            lines.append(_line([_clock(at), wechat_no, f"{secrets.randbelow(10**28):028d}", name, kind,
                                "收入" if income else "支出", yuan(amount), yuan(balance), "system", remark, voucher]))
        ins = [m[5] for m in moves if m[4]]
        outs = [m[5] for m in moves if not m[4]]
        summary = _line([len(moves), len(ins), yuan(sum(ins)), len(outs), yuan(sum(outs))])
        return "\r\n".join([FUND_HEADER, *lines, FUND_SUMMARY, summary]) + "\r\n"

    # ---- the API ------------------------------------------------------------------------------

    def answer(self, request: Request) -> Response | None:
        """The answer to a bill request, or None for a path that is not one (after the fake has
        checked the request's signature)."""
        if request.method != "GET":
            return None
        if request.path in ("/v3/bill/tradebill", "/v3/bill/fundflowbill"):
            return self._apply(request)
        if request.path == "/v3/billdownload/file":
            return self._download(request.args.get("token", ""))
        return None

    def _apply(self, request: Request) -> Response:
        self.applying.set()
        self.gate.wait(30)
        args = request.args
        raw = args.get("bill_date", "")
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
            return self.fake._signed(400, {"code": "PARAM_ERROR", "message": "bill_date 格式不正确"})
        day = date.fromisoformat(raw)
        if day > datetime.now(CST).date():
            return self.fake._signed(400, {"code": "PARAM_ERROR", "message": "账单日期不能晚于今天"})
        trade = request.path.endswith("tradebill")
        kind = args.get("bill_type", "ALL") if trade else args.get("account_type", "BASIC")
        if kind != ("ALL" if trade else "BASIC"):
            return self.fake._signed(400, {"code": "PARAM_ERROR", "message": "the fake makes ALL / BASIC bills only"})
        if args.get("tar_type") not in (None, "GZIP"):
            return self.fake._signed(400, {"code": "PARAM_ERROR", "message": "tar_type 只能是 GZIP"})
        if self.not_ready.get(raw, 0) > 0:
            self.not_ready[raw] -= 1
            return self.fake._signed(400, {"code": "STATEMENT_CREATING", "message": "账单生成中"})
        text = self.trade_bill(day) if trade else self.fund_flow_bill(day)
        if text is None:
            return self.fake._signed(400, {"code": "NO_STATEMENT_EXIST", "message": "请求的账单文件不存在"})
        data = text.encode("utf-8")
        token = secrets.token_urlsafe(24)
        self.files[token] = (data, args.get("tar_type") == "GZIP")
        return self.fake._signed(200, {"hash_type": "SHA1", "hash_value": hashlib.sha1(data).hexdigest(),
                                       "download_url": f"{self.fake.base_url}/v3/billdownload/file?token={token}"})

    def _download(self, token: str) -> Response:
        found = self.files.pop(token, None)  # a download_url serves once (and expires in minutes)
        if found is None:
            return Response('{"code":"RESOURCE_NOT_EXISTS","message":"账单文件不存在或已过期"}', status=404,
                            content_type="application/json")
        data, gzipped = found
        if self.corrupt_downloads > 0:
            self.corrupt_downloads -= 1
            data = data.replace(b"`", b"'", 1)
        # No Wechatpay-Signature headers: WeChat Pay does not sign a bill download.
        return Response(gzip.compress(data) if gzipped else data, status=200,
                        content_type="application/octet-stream")
