"""WeChat Pay's daily bills (对账单), fetched and read.

Two bills per Beijing calendar day: the trade bill (GET /v3/bill/tradebill: every payment and
refund, the refund on the day WeChat Pay accepted it) and the fund-flow bill (GET
/v3/bill/fundflowbill: every movement of the basic account, including transfers to users, which
the trade bill does not list). Each is applied for, then fetched from the `download_url` of the
answer (valid for minutes) with the same merchant signature; the file itself is not signed, so its
SHA1 (`hash_value`, of the uncompressed file) is checked instead.

The file: a header line, detail lines whose every field starts with a backtick (so that
spreadsheets keep long numbers), then a summary header and one summary line. Amounts are yuan with
two decimals. Columns are read by name: their order differs between bill types and has changed
over the years.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from app.payment.errors import BillNotReady, BillUnreadable, PaymentProviderRejected, PaymentProviderUnavailable

log = logging.getLogger(__name__)

# WeChat Pay's bill day runs 00:00-24:00 Beijing time, whatever LINLI_TIMEZONE says.
WECHAT_TZ = ZoneInfo("Asia/Shanghai")
TRADE_BILL = "/v3/bill/tradebill"
FUND_FLOW_BILL = "/v3/bill/fundflowbill"
BillKind = Literal["trade", "fund_flow"]


@dataclass(frozen=True)
class Bill:
    rows: list[dict[str, str]]
    summary: dict[str, str]


@dataclass(frozen=True)
class TradeLine:
    """One line of the trade bill: a payment (交易状态 SUCCESS, or REVOKED) or a refund (REFUND)."""

    kind: Literal["payment", "refund"]
    out_trade_no: str
    transaction_id: str
    out_refund_no: str  # "" on a payment line
    amount: int  # fen: the order amount of a payment, the amount asked for of a refund
    state: str  # 交易状态 of a payment, 退款状态 of a refund (SUCCESS | PROCESSING | FAIL | CHANGE)


@dataclass(frozen=True)
class FundLine:
    """One movement of the account in the fund-flow bill."""

    wechat_no: str  # 微信支付业务单号
    business_name: str  # 业务名称: 交易, 退款, 商家转账, ...
    business_type: str  # 业务类型
    income: bool  # 收支类型 收入 (else 支出)
    amount: int  # fen, positive either way
    voucher: str  # 业务凭证号: the merchant's own number for the movement, where it has one

    @property
    def is_transfer(self) -> bool:
        """A payment to a user: 商家转账 (and the older 企业付款 to 零钱). A line of ours is found by
        its 业务凭证号 whatever its name; the name only matters for transfers we do not know."""
        return any(word in name for word in ("转账", "企业付款") for name in (self.business_name, self.business_type))


# ---- reading a file ---------------------------------------------------------------------------

def _name(header: str) -> str:
    # 收支金额（元） and 收支金额(元) both occur.
    return header.strip().replace("（", "(").replace("）", ")")


def _values(line: str) -> list[str]:
    # Every value starts with a backtick; splitting on ",`" keeps a comma inside a product name.
    return line[1:].split(",`")


def parse_bill(data: bytes | str) -> Bill:
    """The detail rows (by column name) and the summary of one bill file."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")
    lines = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
    if not lines:
        raise BillUnreadable("The bill file is empty.")
    header = [_name(h) for h in lines[0].split(",")]
    rows: list[dict[str, str]] = []
    i = 1
    while i < len(lines) and lines[i].startswith("`"):
        values = _values(lines[i])
        if len(values) != len(header):
            raise BillUnreadable(f"Bill line {i + 1} has {len(values)} fields, its header {len(header)}.")
        rows.append(dict(zip(header, values)))
        i += 1
    summary: dict[str, str] = {}
    if i < len(lines):
        if i + 2 != len(lines) or not lines[i + 1].startswith("`"):
            raise BillUnreadable(f"Bill line {i + 1} is neither a detail line nor the summary.")
        names, values = [_name(h) for h in lines[i].split(",")], _values(lines[i + 1])
        if len(names) != len(values):
            raise BillUnreadable("The bill's summary line does not match its header.")
        summary = dict(zip(names, values))
    return Bill(rows=rows, summary=summary)


def fen(yuan: str, what: str = "amount") -> int:
    """'12.30' → 1230, exactly (never through a float)."""
    try:
        value = Decimal(yuan.strip() or "0") * 100
    except InvalidOperation:
        raise BillUnreadable(f"The bill's {what} {yuan!r} is not an amount in yuan.") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise BillUnreadable(f"The bill's {what} {yuan!r} is not an amount with at most two decimals.")
    return int(value)


def _need(bill: Bill, *columns: str) -> None:
    if bill.rows and not set(columns) <= set(bill.rows[0]):
        raise BillUnreadable(f"The bill lacks the columns {sorted(set(columns) - set(bill.rows[0]))}.")


def _count_matches(bill: Bill, total_name: str) -> None:
    if total_name in bill.summary:
        try:
            count = int(Decimal(bill.summary[total_name]))
        except (InvalidOperation, ValueError, OverflowError):  # not a number, NaN, Infinity
            raise BillUnreadable(f"The bill's {total_name} is not a number.") from None
        if count != len(bill.rows):
            raise BillUnreadable(f"The bill says {count} lines ({total_name}) but holds {len(bill.rows)}.")


def _first(row: dict[str, str], *names: str) -> str:
    for name in names:
        if row.get(name, "") != "":
            return row[name]
    return "0"


def trade_lines(bill: Bill) -> list[TradeLine]:
    _need(bill, "微信订单号", "商户订单号", "交易状态")
    _count_matches(bill, "总交易单数")
    out = []
    for row in bill.rows:
        state = row["交易状态"]
        if state == "REFUND":
            # A refund made in the merchant platform by hand may carry WeChat Pay's number alone.
            number = row.get("商户退款单号", "") or row.get("微信退款单号", "")
            out.append(TradeLine(kind="refund", out_trade_no=row["商户订单号"], transaction_id=row["微信订单号"],
                                 out_refund_no=number, state=row.get("退款状态", ""),
                                 amount=fen(_first(row, "申请退款金额", "退款金额"), "refund amount")))
        else:
            out.append(TradeLine(kind="payment", out_trade_no=row["商户订单号"], transaction_id=row["微信订单号"],
                                 out_refund_no="", state=state,
                                 amount=fen(_first(row, "订单金额", "总金额", "应结订单金额"), "order amount")))
    return out


def fund_lines(bill: Bill) -> list[FundLine]:
    _need(bill, "微信支付业务单号", "业务名称", "业务类型", "收支类型", "收支金额(元)", "业务凭证号")
    _count_matches(bill, "资金流水总笔数")
    return [FundLine(wechat_no=row["微信支付业务单号"], business_name=row["业务名称"], business_type=row["业务类型"],
                     income=row["收支类型"] == "收入", amount=fen(row["收支金额(元)"], "fund-flow amount"),
                     voucher=row["业务凭证号"])
            for row in bill.rows]


# ---- fetching it ------------------------------------------------------------------------------

def _json(body: Any) -> dict[str, Any]:
    try:
        data = json.loads(body) if body else {}
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def fetch(provider: Any, kind: BillKind, bill_date: date, *, gzipped: bool = True) -> bytes | None:
    """The bill file of one day, its hash checked; None when WeChat Pay has no bill for the day
    (NO_STATEMENT_EXIST: nothing happened in it). BillNotReady while WeChat Pay is still making
    it; PaymentProviderUnavailable / PaymentProviderRejected when it could not be had;
    BillUnreadable when the file is not what its hash says. `provider` is a WechatPayProvider."""
    query = {"bill_date": bill_date.isoformat()}
    query.update({"bill_type": "ALL"} if kind == "trade" else {"account_type": "BASIC"})
    if gzipped:
        query["tar_type"] = "GZIP"
    path = f"{TRADE_BILL if kind == 'trade' else FUND_FLOW_BILL}?{urlencode(query)}"
    code, body = provider.signed_get(path)
    answer = _json(body)
    if code == 400 and answer.get("code") == "NO_STATEMENT_EXIST":
        return None
    if code == 400 and answer.get("code") == "STATEMENT_CREATING" or code >= 500 or code == 429:
        raise BillNotReady(f"WeChat Pay's {kind} bill of {bill_date} is not ready: HTTP {code} {answer.get('code')}.")
    if code >= 300 or not answer.get("download_url") or answer.get("hash_type") != "SHA1":
        log.error("wechatpay %s bill of %s refused: HTTP %s %s", kind, bill_date, code, answer.get("code"))
        raise PaymentProviderRejected(f"WeChat Pay refused the {kind} bill of {bill_date}: "
                                      f"{answer.get('message') or answer.get('hash_type') or code}",
                                      provider_code=answer.get("code"))
    code, data = provider.signed_get(answer["download_url"], verify_answer=False)
    if code != 200:
        raise PaymentProviderUnavailable(f"The {kind} bill of {bill_date} could not be downloaded (HTTP {code}).")
    if isinstance(data, str):
        data = data.encode("utf-8")
    if gzipped:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise BillUnreadable(f"The {kind} bill of {bill_date} is not a gzip file: {e}.") from None
    if hashlib.sha1(data).hexdigest() != str(answer.get("hash_value", "")).lower():
        raise BillUnreadable(f"The {kind} bill of {bill_date} does not match its SHA1 hash.")
    return data
