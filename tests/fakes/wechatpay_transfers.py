"""WeChat Pay's merchant transfer (商家转账, user-confirmation mode) on the fake WeChat Pay server.

    transfers = FakeTransfers(fake_wechatpay)   # attaches itself: fake_wechatpay.transfers

It answers, with the same request-signature check and signed answers as the rest of the fake:
- POST /v3/fund-app/mch-transfer/transfer-bills: checks the fields scene 1005 (佣金报酬) needs
  (its two report infos, a perception it allows, the payee's name encrypted with the WeChat Pay
  public key from 2,000 yuan, Wechatpay-Serial naming that key), makes one bill per out_bill_no
  (asking again answers the same bill) and answers its state (`create_state`, WAIT_USER_CONFIRM
  by default, with package_info);
- GET .../transfer-bills/out-bill-no/{no}: the bill, or 404 NOT_FOUND;
- POST .../out-bill-no/{no}/cancel: CANCELLED (or CANCELING) for a bill not yet confirmed.
Modes: `timeout_after_create` (seconds): the bill is made, then the answer comes too late for the
client, as when a request times out at WeChat Pay's door; `reject_with` (code): refuse creation.
A test moves bills on with `set_state` and builds their notifications with `notification`.

`record_transfer` is the seam for other fakes (the reconciliation bills): every bill made or
changed here is recorded through it, and a test may plant one WeChat Pay knows and linli does
not; `list_transfers()` lists them.
"""
from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from datetime import datetime
from typing import Any, Callable

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from werkzeug.wrappers import Request, Response

from tests.fakes.wechatpay import CST, FakeWechatPay

BASE = "/v3/fund-app/mch-transfer/transfer-bills"
SCENE_REPORT_INFOS = {"1005": {"岗位类型", "报酬说明"}}
SCENE_PERCEPTIONS = {"1005": {"劳务报酬", "报酬"}}
NOT_CONFIRMED = ("ACCEPTED", "PROCESSING", "WAIT_USER_CONFIRM")


def _now() -> str:
    return datetime.now(CST).isoformat(timespec="milliseconds")


class FakeTransfers:
    def __init__(self, wx: FakeWechatPay):
        self.wx = wx
        self._lock = threading.Lock()
        self.bills: dict[str, dict[str, Any]] = {}
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.reset()
        wx.handlers.append(self._handle)
        wx.transfers = self
        # What WeChat Pay paid out shows in its fund-flow bill (tests/fakes/wechatpay_bills.py).
        self.listeners.append(wx.bills.transfer_changed)

    def reset(self) -> None:
        with self._lock:
            self.bills.clear()
        self.create_state = "WAIT_USER_CONFIRM"
        self.cancel_state = "CANCELLED"
        self.timeout_after_create: float | None = None
        self.reject_with: str | None = None
        self.created = 0  # bills made (never twice for one out_bill_no)

    # ---- the seam ---------------------------------------------------------------------------

    def record_transfer(self, out_bill_no: str, amount: int, *, state: str = "SUCCESS", openid: str = "o-planted",
                        **fields: Any) -> dict[str, Any]:
        """Make or update a bill as WeChat Pay keeps it, and tell the listeners (the bills fake)."""
        with self._lock:
            bill = self.bills.get(out_bill_no)
            if bill is None:
                bill = self.bills[out_bill_no] = {
                    "mch_id": self.wx.mchid, "appid": self.wx.appid, "out_bill_no": out_bill_no,
                    "transfer_bill_no": f"1330{uuid.uuid4().int % 10**36:036d}", "openid": openid,
                    "transfer_amount": amount, "transfer_remark": "", "create_time": _now()}
            bill.update(fields)
            bill["state"] = state
            bill["update_time"] = _now()
            snapshot = dict(bill)
        for listener in self.listeners:
            listener(snapshot)
        return snapshot

    def list_transfers(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(b) for b in self.bills.values()]

    def set_state(self, out_bill_no: str, state: str, *, fail_reason: str | None = None) -> dict[str, Any]:
        """WeChat Pay moves a bill on: the leader confirmed (SUCCESS), it failed, it was cancelled."""
        extra = {"fail_reason": fail_reason or "PAYEE_ACCOUNT_ABNORMAL"} if state == "FAIL" else {}
        bill = self.bills[out_bill_no]
        return self.record_transfer(out_bill_no, bill["transfer_amount"], state=state, **extra)

    def notification(self, out_bill_no: str, *, state: str | None = None, **kw) -> tuple[dict[str, str], str]:
        """(headers, body) of MCHTRANSFER.BILL.FINISHED for the bill, signed and encrypted."""
        with self._lock:
            bill = dict(self.bills[out_bill_no])
        resource = {k: bill[k] for k in ("mch_id", "out_bill_no", "transfer_bill_no", "transfer_amount", "openid",
                                          "create_time", "update_time")}
        resource["state"] = state or bill["state"]
        if resource["state"] == "FAIL":
            resource["fail_reason"] = bill.get("fail_reason") or "PAYEE_ACCOUNT_ABNORMAL"
        return self.wx.signed_notification(resource, event_type="MCHTRANSFER.BILL.FINISHED",
                                           envelope={"summary": "商家转账单据终态通知"}, **kw)

    # ---- the API ----------------------------------------------------------------------------

    def _handle(self, request: Request, data: dict[str, Any]) -> Response | None:
        path = request.path
        if request.method == "POST" and path == BASE:
            return self._create(request, data)
        m = re.fullmatch(rf"{BASE}/out-bill-no/([0-9A-Za-z]+)(/cancel)?", path)
        if m and request.method == "GET" and not m.group(2):
            return self._query(m.group(1))
        if m and request.method == "POST" and m.group(2):
            return self._cancel(m.group(1))
        return None

    def _error(self, status: int, code: str, message: str) -> Response:
        return self.wx._signed(status, {"code": code, "message": message})

    def _create(self, request: Request, data: dict[str, Any]) -> Response:
        required = ("appid", "out_bill_no", "transfer_scene_id", "openid", "transfer_amount", "transfer_remark")
        missing = [k for k in required if not data.get(k)]
        if missing:
            return self._error(400, "PARAM_ERROR", f"缺少参数 {missing}")
        if data["appid"] != self.wx.appid or not re.fullmatch(r"[0-9A-Za-z]{5,32}", data["out_bill_no"]):
            return self._error(400, "PARAM_ERROR", "appid 或 out_bill_no 不合法")
        scene, amount = data["transfer_scene_id"], data["transfer_amount"]
        if scene not in SCENE_REPORT_INFOS:
            return self._error(400, "INVALID_REQUEST", "该转账场景不可用")
        if not isinstance(amount, int) or amount < 1 or len(data["transfer_remark"]) > 32:
            return self._error(400, "PARAM_ERROR", "transfer_amount 或 transfer_remark 不合法")
        infos = data.get("transfer_scene_report_infos") or []
        if {i.get("info_type") for i in infos} != SCENE_REPORT_INFOS[scene] or len(infos) != len(SCENE_REPORT_INFOS[scene]) \
                or any(not 1 <= len(i.get("info_content") or "") <= 32 for i in infos):
            return self._error(400, "PARAM_ERROR", "未传入完整且对应的转账场景报备信息,请根据接口文档检查")
        if data.get("user_recv_perception") not in (None, *SCENE_PERCEPTIONS[scene]):
            return self._error(400, "INVALID_REQUEST", "暂不支持展示当前传入的用户收款感知")
        user_name = None
        if "user_name" in data:
            if request.headers.get("Wechatpay-Serial") != self.wx.public_key_id:
                return self._error(400, "PARAM_ERROR", "加密字段需要 Wechatpay-Serial")
            try:
                user_name = self.wx.platform.private_key.decrypt(
                    base64.b64decode(data["user_name"]),
                    padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
                ).decode("utf-8")
            except Exception:  # noqa: BLE001
                return self._error(400, "PARAM_ERROR", "user_name 解密失败")
        elif amount >= 200_000:
            return self._error(400, "PARAM_ERROR", "转账金额 >= 2,000元时, 需填写收款用户姓名")
        if self.reject_with:
            return self._error(403 if self.reject_with == "NO_AUTH" else 400, self.reject_with, "fake refusal")
        with self._lock:
            existing = self.bills.get(data["out_bill_no"])
        if existing is None:
            fields = {"transfer_remark": data["transfer_remark"], "scene": scene, "report_infos": infos,
                      "user_name": user_name, "notify_url": data.get("notify_url")}
            if self.create_state == "WAIT_USER_CONFIRM":
                fields["package_info"] = "ABBQO+oYAAABAAAAAAAk+" + uuid.uuid4().hex
            if self.create_state == "FAIL":
                fields["fail_reason"] = "PAYEE_ACCOUNT_ABNORMAL"
            existing = self.record_transfer(data["out_bill_no"], amount, state=self.create_state,
                                            openid=data["openid"], **fields)
            self.created += 1
        if self.timeout_after_create:
            time.sleep(self.timeout_after_create)  # the bill exists; the answer never reaches the caller in time
        answer = {k: existing[k] for k in ("out_bill_no", "transfer_bill_no", "create_time", "state")}
        if existing["state"] == "WAIT_USER_CONFIRM":
            answer["package_info"] = existing["package_info"]
        if existing["state"] == "FAIL":
            answer["fail_reason"] = existing["fail_reason"]
        return self.wx._signed(200, answer)

    def _query(self, out_bill_no: str) -> Response:
        with self._lock:
            bill = self.bills.get(out_bill_no)
        if bill is None:
            return self._error(404, "NOT_FOUND", "记录不存在")
        keys = ("mch_id", "out_bill_no", "transfer_bill_no", "appid", "state", "transfer_amount", "transfer_remark",
                "fail_reason", "openid", "create_time", "update_time")
        return self.wx._signed(200, {k: bill[k] for k in keys if bill.get(k) is not None})

    def _cancel(self, out_bill_no: str) -> Response:
        with self._lock:
            bill = self.bills.get(out_bill_no)
        if bill is None:
            return self._error(404, "NOT_FOUND", "记录不存在")
        if bill["state"] not in NOT_CONFIRMED:
            return self._error(400, "INVALID_REQUEST", "当前状态不支持撤销")
        bill = self.record_transfer(out_bill_no, bill["transfer_amount"], state=self.cancel_state)
        return self.wx._signed(200, {k: bill[k] for k in ("out_bill_no", "transfer_bill_no", "state", "update_time")})


# ---- fixtures: the fake WeChat Pay with its merchant transfer, one server per session ----------

@pytest.fixture(scope="session")
def wechatpay_server(tmp_path_factory):
    fake = FakeWechatPay(key_dir=tmp_path_factory.mktemp("wechatpay-keys"))
    FakeTransfers(fake)
    yield fake
    fake.stop()


@pytest.fixture
def wechatpay(wechatpay_server):
    """Reset for each test (payments, bills and transfers)."""
    wechatpay_server.reset()
    wechatpay_server.transfers.reset()
    return wechatpay_server
