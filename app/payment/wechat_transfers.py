"""WeChat Pay's merchant transfer (商家转账, user-confirmation mode, since 2025-01-15) through
wechatpayv3's mchtransfer wrappers, on the same signed client, trusted keys and notification
checks as payments (app/payment/wechatpay.py).

Scene 1005 (佣金报酬: commissions paid to sales staff, group leaders, hosts) with its two report
infos (岗位类型, 报酬说明) and the payee's perception 劳务报酬. The payee's name is sent, encrypted
with the WeChat Pay public key, only where WeChat Pay requires it (2,000 yuan and more)."""
from __future__ import annotations

import logging
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.payment.errors import BadNotification, PaymentProviderUnavailable
from app.payment.transfers import (FINAL_STATES, IN_FLIGHT_STATES, OUT_BILL_NO_PATTERN, TransferEvent, TransferRequest,
                                   TransferResult)
from app.payment.wechatpay import WechatPayProvider, _validated

log = logging.getLogger(__name__)

SCENE_ID = "1005"
RECV_PERCEPTION = "劳务报酬"
USER_NAME_FROM = 200_000  # fen: WeChat Pay wants the payee's name from 2,000 yuan
NOTIFY_EVENT = "MCHTRANSFER.BILL.FINISHED"
# Error codes that mean "not now" (their side, rates, our merchant balance): the bill number is
# kept and asked about again, never replaced.
TRANSIENT = {"SYSTEM_ERROR", "FREQUENCY_LIMITED", "RATELIMIT_EXCEEDED", "NOT_ENOUGH", "ACCOUNT_ERROR"}

State = Literal["ACCEPTED", "PROCESSING", "WAIT_USER_CONFIRM", "TRANSFERING", "SUCCESS", "FAIL", "CANCELING",
                "CANCELLED"]
assert set(State.__args__) == set(FINAL_STATES + IN_FLIGHT_STATES)  # type: ignore[attr-defined]

_STRICT = ConfigDict(strict=True, extra="ignore")


class BillAnswer(BaseModel):
    """An answer about a bill (create, query, cancel) or a notification's resource."""

    model_config = _STRICT
    out_bill_no: str = Field(pattern=OUT_BILL_NO_PATTERN)
    transfer_bill_no: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_\-]+$")
    state: State
    package_info: str | None = Field(default=None, max_length=2048)
    fail_reason: str | None = Field(default=None, max_length=128)
    transfer_amount: int | None = Field(default=None, ge=1, le=2**63 - 1)
    mchid: str | None = Field(default=None, max_length=32)
    mch_id: str | None = Field(default=None, max_length=32)

    @model_validator(mode="after")
    def _fail_has_a_reason(self) -> "BillAnswer":
        if self.state == "FAIL" and not self.fail_reason:
            self.fail_reason = "FAIL"
        return self


class WechatTransfers:
    name = "wechatpay"

    def __init__(self, provider: WechatPayProvider):
        self.provider = provider
        self.settings = provider.settings

    def _answer(self, what: str, code: int, body: dict[str, Any]) -> TransferResult:
        if code < 300:
            try:
                bill = BillAnswer.model_validate(body)
            except ValueError:
                log.error("wechatpay %s: an answer that is not a bill: %s", what, body)
                return TransferResult(outcome="unknown", detail=f"unreadable {what} answer")
            return TransferResult(outcome="bill", state=bill.state, transfer_bill_no=bill.transfer_bill_no,
                                  package_info=bill.package_info, fail_reason=bill.fail_reason)
        detail = f"HTTP {code} {body.get('code', '')}: {body.get('message', '')}".strip()[:500]
        if code == 404 and body.get("code") in ("NOT_FOUND", "RESOURCE_NOT_EXISTS"):
            return TransferResult(outcome="not_found", detail=detail)
        if code >= 500 or code == 429 or body.get("code") in TRANSIENT or code in (401, 403):
            return TransferResult(outcome="unknown", detail=detail)
        return TransferResult(outcome="rejected", detail=detail, fail_reason=str(body.get("code") or code)[:64])

    def _request(self, what: str, fn, **kw) -> TransferResult:
        try:
            code, body = self.provider._call(what, fn, **kw)
        except PaymentProviderUnavailable as e:
            return TransferResult(outcome="unknown", detail=e.detail or "unavailable")
        return self._answer(what, code, body)

    def transfer(self, req: TransferRequest) -> TransferResult:
        wx = self.provider._wx
        return self._request(
            "transfer", wx.mch_transfer_bills, out_bill_no=req.out_bill_no, transfer_scene_id=SCENE_ID,
            openid=req.openid, transfer_amount=req.amount, transfer_remark=req.remark[:32],
            user_name=req.user_name if req.amount >= USER_NAME_FROM else None,
            user_recv_perception=RECV_PERCEPTION, transfer_scene_report_infos=req.report_infos,
            appid=self.settings.wechat_appid, notify_url=self.settings.transfer_notify_url)

    def query(self, out_bill_no: str) -> TransferResult:
        return self._request("transfer query", self.provider._wx.mch_transfer_bills_query, out_bill_no=out_bill_no)

    def cancel(self, out_bill_no: str) -> TransferResult:
        return self._request("transfer cancel", self.provider._wx.mch_transfer_bills_cancel, out_bill_no=out_bill_no)

    def parse_notification(self, headers: Mapping[str, str], body: str) -> TransferEvent | None:
        envelope, plain = self.provider.open_notification(headers, body)
        if envelope.event_type != NOTIFY_EVENT:
            log.info("wechatpay transfer notification %s (%s) acknowledged without effect", envelope.id,
                     envelope.event_type)
            return None
        bill = _validated(BillAnswer, plain, "transfer resource")
        if (bill.mchid or bill.mch_id) != self.settings.wechatpay_mchid:
            raise BadNotification("The notification is for another merchant (mchid).")
        return TransferEvent(out_bill_no=bill.out_bill_no, state=bill.state, transfer_bill_no=bill.transfer_bill_no,
                             fail_reason=bill.fail_reason, raw=bill.model_dump(mode="json", exclude_none=True))
