"""A local stand-in for WeChat's server API (and its login, inherited from FakeWechat): real HTTP
on 127.0.0.1, answering as api.weixin.qq.com does.

- `POST /cgi-bin/stable_token` {grant_type, appid, secret, force_refresh}: `{access_token,
  expires_in}`; the same token while it lives unless force_refresh (which kills the old one).
  Counts its calls (`token_calls`). `expire_tokens()` / `invalidate_tokens()` make every token
  issued so far answer 42001 / 40001 on its next use.
- `POST /wxa/getwxacodeunlimit?access_token=` {scene, page, width, check_path}: a PNG whose
  pixels are a pattern derived from the scene (see `code_image`), recorded in `codes`;
  `image_has_code(image, scene)` finds that pattern inside a poster at any position and size.
- `POST /cgi-bin/message/subscribe/send?access_token=` {touser, template_id, page, data}: recorded
  in `sends`; data values checked against WeChat's limits (thing ≤ 20 characters, ...: 47003).

- Order shipping (发货信息管理), over the payments a test files with `add_payment(...)`:
  `POST /wxa/sec/order/upload_shipping_info` checks every field as WeChat does (order_key by
  transaction_id or mchid + out_trade_no, logistics_type, delivery_mode, one shipping_list entry in
  unified delivery, item_desc 1..120 characters, tracking_no/express_company for couriers,
  upload_time RFC 3339 with its offset, payer.openid the payer's) and moves the payment from
  awaiting shipment (1) to shipped (2); a second upload spends the payment's one change
  (`changes`), a third is 10060003; refunded 10060004; received or settled 10060002. Accepted
  bodies are in `shipping_uploads`, every call counted in `upload_calls`.
  `POST /wxa/sec/order/get_order`, `POST /wxa/sec/order/get_order_list` (pay_time_range,
  order_state, page_size <= 50, last_index) and `POST /wxa/sec/order/set_msg_jump_path`
  (`jump_paths`). `confirm_receipt(txn)`, `settle(txn)` and `refund(txn)` move a payment on as
  WeChat would; `push_message(...)` builds the signed push WeChat then sends (plain or safe mode).

Faults: `fail_next(endpoint, errcode, times)` (e.g. 43101 or -1 on subscribe/send, 10060001
"payment not filed yet" or a refusal on uploads), `delay_next(endpoint, seconds, times)` (a
timeout before anything is done), `stall_after_next(endpoint, seconds, times)` (the request is
carried out, then the answer comes too late: a timeout after WeChat accepted), `token_delay_s`
(widens the refresh race).

    @pytest.fixture
    def settings_overrides(wechat_api):  # wechat_api: the fixture below, imported into the module
        return wechat_api.settings()
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import secrets
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from PIL import Image, ImageChops

from tests.fakes.wechat import Call, FakeWechat

STABLE_TOKEN = "/cgi-bin/stable_token"
WXACODE = "/wxa/getwxacodeunlimit"
SUBSCRIBE_SEND = "/cgi-bin/message/subscribe/send"
UPLOAD_SHIPPING = "/wxa/sec/order/upload_shipping_info"
GET_ORDER = "/wxa/sec/order/get_order"
GET_ORDER_LIST = "/wxa/sec/order/get_order_list"
SET_JUMP_PATH = "/wxa/sec/order/set_msg_jump_path"
SHIPPING_PATHS = (UPLOAD_SHIPPING, GET_ORDER, GET_ORDER_LIST, SET_JUMP_PATH)

ERRMSG = {
    -1: "system error", 40001: "invalid credential, access_token is invalid or not latest",
    42001: "access_token expired", 41001: "access_token missing", 40013: "invalid appid",
    40125: "invalid appsecret", 40002: "invalid grant_type", 43101: "user refuse to accept the msg",
    40003: "invalid openid", 47003: "argument invalid!", 41030: "invalid page", 40037: "invalid template_id",
    40169: "invalid length for scene", 45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit",
    # order shipping
    10060001: "支付单不存在", 10060002: "支付单已完成发货，无法继续发货", 10060003: "支付单已使用重新发货机会",
    10060004: "支付单处于不可发货的状态", 10060005: "物流类型有误", 10060006: "非快递发货时不允许分拆发货",
    10060007: "分拆发货模式下必须填写 is_all_delivered 字段", 10060008: "商品描述字段不能为空",
    10060009: "商品描述字段长度不能超过 120 字", 10060012: "系统繁忙，请稍后再试", 10060014: "参数错误",
    10060024: "物流信息列表太长", 268485216: "上传时间非法，请按照 RFC 3339 格式填写", 268485224: "发货模式非法",
    268485228: "统一发货模式下，物流信息列表长度必须为1",
}
RFC3339_WITH_OFFSET = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
                                 r"(Z|[+-][0-9]{2}:[0-9]{2})$")

# subscribeMessage.send: the longest value each kind of data key accepts (characters).
DATA_LIMITS = {"thing": 20, "character_string": 32, "number": 32, "letter": 32, "symbol": 5,
               "phrase": 5, "name": 10, "phone_number": 17, "car_number": 8, "amount": 32,
               "time": 64, "date": 64, "short_thing": 5}

# ---- the code pattern ------------------------------------------------------------------------
# A square image: a frame one cell wide in MARKER (a colour nothing else uses), around an 8 x 8 grid
# whose cells take one of eight far-apart colours, three bits each from sha256(scene).
MARKER = (255, 0, 128)
PALETTE = [(0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 160, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255),
           (128, 64, 0)]
GRID = 8


def code_pattern(scene: str) -> list[tuple[int, int, int]]:
    digest = int.from_bytes(hashlib.sha256(scene.encode()).digest(), "big")
    return [PALETTE[(digest >> (3 * i)) & 7] for i in range(GRID * GRID)]


def code_image(scene: str, width: int = 430) -> Image.Image:
    cells = GRID + 2
    cell = max(1, width // cells)
    img = Image.new("RGB", (cell * cells, cell * cells), MARKER)
    for i, colour in enumerate(code_pattern(scene)):
        x, y = (i % GRID + 1) * cell, (i // GRID + 1) * cell
        img.paste(colour, (x, y, x + cell, y + cell))
    return img


def code_png(scene: str, width: int = 430) -> bytes:
    out = io.BytesIO()
    code_image(scene, width).save(out, "PNG")
    return out.getvalue()


def _nearest(rgb) -> tuple[int, int, int]:
    return min(PALETTE, key=lambda p: sum((a - b) ** 2 for a, b in zip(p, rgb)))


def image_has_code(image: bytes | Image.Image, scene: str) -> bool:
    """True if `image` (a poster, PNG bytes or a PIL image) shows the fake's code for `scene`,
    pasted square at any position and scale (nearest, bilinear or Lanczos resampling)."""
    img = Image.open(io.BytesIO(image)) if isinstance(image, (bytes, bytearray)) else image
    img = img.convert("RGB")
    # Pixels close to MARKER: their bounding box is the code's frame.
    diff = ImageChops.difference(img, Image.new("RGB", img.size, MARKER)).convert("L")
    box = diff.point(lambda v: 255 if v < 40 else 0).getbbox()
    if box is None:
        return False
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    if w < GRID + 2 or abs(w - h) > max(2, w // 20):
        return False
    cell_w, cell_h = w / (GRID + 2), h / (GRID + 2)
    seen = [_nearest(img.getpixel((int(left + (i % GRID + 1.5) * cell_w), int(top + (i // GRID + 1.5) * cell_h))))
            for i in range(GRID * GRID)]
    return seen == code_pattern(scene)


# ---- the server -----------------------------------------------------------------------------

@dataclass
class Send:
    touser: str
    template_id: str
    page: str | None
    data: dict


@dataclass
class Code:
    scene: str
    page: str | None
    width: int
    check_path: bool


@dataclass
class ShippingPayment:
    """A payment as WeChat's shipping management holds it."""

    transaction_id: str
    mchid: str
    out_trade_no: str
    openid: str
    amount: int = 100
    pay_time: int = field(default_factory=lambda: int(time.time()))
    description: str = "goods"
    order_state: int = 1  # 1 awaiting shipment, 2 shipped, 3 received, 4 settled, 5 refunded
    changes: int = 0  # uploads after the first: WeChat allows one
    last_upload: dict | None = None

    def view(self) -> dict:
        up = self.last_upload or {}
        return {"transaction_id": self.transaction_id, "merchant_id": self.mchid, "sub_merchant_id": "",
                "merchant_trade_no": self.out_trade_no, "description": self.description,
                "paid_amount": self.amount, "openid": self.openid, "trade_create_time": self.pay_time - 5,
                "pay_time": self.pay_time, "in_complaint": False, "order_state": self.order_state,
                "shipping": {"delivery_mode": up.get("delivery_mode", 1), "logistics_type": up.get("logistics_type", 0),
                             "finish_shipping": self.order_state >= 2 and self.order_state != 5,
                             "finish_shipping_count": 1 + self.changes if up else 0,
                             "goods_desc": (up.get("shipping_list") or [{}])[0].get("item_desc", ""),
                             "shipping_list": []}}


@dataclass
class FakeWechatApi(FakeWechat):
    token_ttl_s: int = 7200
    token_delay_s: float = 0.0  # stable_token takes this long: a wider window for a refresh race
    pages: set[str] | None = None  # pages that exist (for check_path); None: every page
    templates: set[str] | None = None  # template ids that exist; None: every id
    bad_openids: set[str] = field(default_factory=set)
    token_calls: list[dict] = field(default_factory=list)
    codes: list[Code] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)
    payments: dict[str, ShippingPayment] = field(default_factory=dict)
    shipping_uploads: list[dict] = field(default_factory=list)  # accepted upload bodies
    upload_calls: int = 0
    jump_paths: list[str] = field(default_factory=list)

    def __post_init__(self):
        super().__post_init__()
        self._tokens: dict[str, tuple[float, int | None]] = {}  # token → (expires at, errcode if killed)
        self._current: str | None = None
        self._api_faults: dict[str, list[int]] = {}
        self._delays: dict[str, list[float]] = {}
        self._stalls: dict[str, list[float]] = {}

    # ---- what a test controls --------------------------------------------------------------

    def settings(self) -> dict:
        """Settings overrides pointing an app at this fake (posters ask it for their codes)."""
        return dict(wechat_api_base=self.base_url, wechat_appid=self.appid, wechat_secret=self.secret,
                    poster_placeholder=False)

    def fail_next(self, endpoint_or_errcode, errcode: int | None = None, times: int = 1) -> None:
        """fail_next(SUBSCRIBE_SEND, 43101): the next `times` calls of that endpoint answer errcode.
        fail_next(45011) keeps FakeWechat's meaning (the login endpoint)."""
        if errcode is None:
            return super().fail_next(endpoint_or_errcode, times)
        with self._lock:
            self._api_faults.setdefault(endpoint_or_errcode, []).extend([errcode] * times)

    def delay_next(self, endpoint: str, seconds: float, times: int = 1) -> None:
        with self._lock:
            self._delays.setdefault(endpoint, []).extend([seconds] * times)

    def stall_after_next(self, endpoint: str, seconds: float, times: int = 1) -> None:
        """The next calls are carried out, then answered `seconds` late (a client timeout after
        WeChat accepted)."""
        with self._lock:
            self._stalls.setdefault(endpoint, []).extend([seconds] * times)

    # ---- shipping: payments as WeChat Pay files them ---------------------------------------

    def add_payment(self, *, transaction_id: str, mchid: str, out_trade_no: str, openid: str,
                    amount: int = 100, pay_time: int | None = None) -> ShippingPayment:
        with self._lock:
            p = ShippingPayment(transaction_id=transaction_id, mchid=mchid, out_trade_no=out_trade_no,
                                openid=openid, amount=amount, pay_time=pay_time or int(time.time()))
            self.payments[transaction_id] = p
            return p

    def confirm_receipt(self, transaction_id: str) -> None:
        with self._lock:
            self.payments[transaction_id].order_state = 3

    def settle(self, transaction_id: str) -> None:
        with self._lock:
            self.payments[transaction_id].order_state = 4

    def refund(self, transaction_id: str) -> None:
        with self._lock:
            self.payments[transaction_id].order_state = 5

    def uploads_for(self, transaction_id: str) -> list[dict]:
        with self._lock:
            return [b for b in self.shipping_uploads if b["order_key"].get("transaction_id") == transaction_id
                    or b["order_key"].get("out_trade_no") == self.payments[transaction_id].out_trade_no]

    def expire_tokens(self) -> None:
        self._kill_tokens(42001)

    def invalidate_tokens(self) -> None:
        self._kill_tokens(40001)

    def _kill_tokens(self, errcode: int) -> None:
        with self._lock:
            for token, (exp, _) in self._tokens.items():
                self._tokens[token] = (exp, errcode)
            self._current = None

    @property
    def stable_token_count(self) -> int:
        with self._lock:
            return len(self.token_calls)

    # ---- the protocol ----------------------------------------------------------------------

    def answer_post(self, path: str, params: dict[str, str], body) -> dict | tuple[int, str, bytes]:
        with self._lock:
            delay = self._delays.get(path, []) and self._delays[path].pop(0)
        if delay:
            time.sleep(delay)
        if not isinstance(body, dict):
            return _error(47001)
        if path == STABLE_TOKEN:
            return self._stable_token(body)
        if path not in (WXACODE, SUBSCRIBE_SEND) + SHIPPING_PATHS:
            return {"errcode": 404, "errmsg": "not found"}
        token_error = self._check_token(params.get("access_token"))
        if token_error:
            return _error(token_error)
        with self._lock:
            faults = self._api_faults.get(path)
            if faults:
                return _error(faults.pop(0))
        if path == WXACODE:
            return self._wxacode(body)
        if path in SHIPPING_PATHS:
            answer = {UPLOAD_SHIPPING: self._upload_shipping, GET_ORDER: self._get_order,
                      GET_ORDER_LIST: self._get_order_list, SET_JUMP_PATH: self._set_jump_path}[path](body)
            with self._lock:
                stall = self._stalls.get(path, []) and self._stalls[path].pop(0)
            if stall:
                time.sleep(stall)  # done already; the answer is what comes late
            return answer
        return self._send(body)

    # ---- shipping ----------------------------------------------------------------------------

    def _find_payment(self, key: dict) -> ShippingPayment | None:
        kind = key.get("order_number_type")
        if kind == 2:
            return self.payments.get(key.get("transaction_id") or "")
        if kind == 1:
            return next((p for p in self.payments.values()
                         if p.mchid == key.get("mchid") and p.out_trade_no == key.get("out_trade_no")), None)
        return None

    def _upload_shipping(self, body: dict) -> dict:
        with self._lock:
            self.upload_calls += 1
            key = body.get("order_key")
            if not isinstance(key, dict) or key.get("order_number_type") not in (1, 2):
                return _error(10060014)
            if key["order_number_type"] == 2 and not key.get("transaction_id"):
                return _error(10060014)
            if key["order_number_type"] == 1 and not (key.get("mchid") and key.get("out_trade_no")):
                return _error(10060014)
            logistics, mode, items = body.get("logistics_type"), body.get("delivery_mode"), body.get("shipping_list")
            if logistics not in (1, 2, 3, 4) or isinstance(logistics, bool):
                return _error(10060005)
            if mode not in (1, 2) or isinstance(mode, bool):
                return _error(268485224)
            if not isinstance(items, list) or not items:
                return _error(10060014)
            if len(items) > 15:
                return _error(10060024)
            if mode == 2 and logistics != 1:
                return _error(10060006)
            if mode == 2 and not isinstance(body.get("is_all_delivered"), bool):
                return _error(10060007)
            if mode == 1 and len(items) != 1:
                return _error(268485228)
            for item in items:
                desc = item.get("item_desc") if isinstance(item, dict) else None
                if not isinstance(desc, str) or not desc.strip():
                    return _error(10060008)
                if len(desc) > 120:
                    return _error(10060009)
                if logistics == 1 and not (item.get("tracking_no") and item.get("express_company")):
                    return _error(10060014)
            upload_time = body.get("upload_time")
            if not isinstance(upload_time, str) or not RFC3339_WITH_OFFSET.match(upload_time):
                return _error(268485216)
            payer = body.get("payer")
            openid = payer.get("openid") if isinstance(payer, dict) else None
            payment = self._find_payment(key)
            if payment is None:
                return _error(10060001)
            if openid != payment.openid:
                return {"errcode": 10060014, "errmsg": "参数错误 payer.openid"}
            if payment.order_state == 5:
                return _error(10060004)
            if payment.order_state in (3, 4):
                return _error(10060002)
            if payment.order_state == 2:
                if payment.changes >= 1:
                    return _error(10060003)
                payment.changes += 1
            payment.order_state = 2
            payment.last_upload = body
            self.shipping_uploads.append(body)
            return {"errcode": 0, "errmsg": "ok"}

    def _get_order(self, body: dict) -> dict:
        with self._lock:
            txn = body.get("transaction_id")
            if txn:
                payment = self.payments.get(txn)
            else:
                payment = next((p for p in self.payments.values() if p.mchid == body.get("merchant_id")
                                and p.out_trade_no == body.get("merchant_trade_no")), None)
            if payment is None:
                return _error(10060001)
            return {"errcode": 0, "errmsg": "ok", "order": payment.view()}

    def _get_order_list(self, body: dict) -> dict:
        with self._lock:
            size = body.get("page_size", 50)
            if not isinstance(size, int) or not 1 <= size <= 50:
                return _error(10060014)
            rng = body.get("pay_time_range") or {}
            state, openid = body.get("order_state"), body.get("openid")
            if state is not None and state not in (1, 2, 3, 4, 5):
                return _error(10060014)
            rows = sorted((p for p in self.payments.values()
                           if rng.get("begin_time", 0) <= p.pay_time <= rng.get("end_time", 2**40)
                           and (state is None or p.order_state == state) and (not openid or p.openid == openid)),
                          key=lambda p: (p.pay_time, p.transaction_id))
            start = int(body.get("last_index") or 0)
            page = rows[start:start + size]
            more = start + size < len(rows)
            return {"errcode": 0, "errmsg": "ok", "order_list": [p.view() for p in page],
                    "last_index": str(start + size) if more else "", "has_more": more}

    def _set_jump_path(self, body: dict) -> dict:
        path = body.get("path")
        if not isinstance(path, str) or not path or len(path) > 256:
            return _error(47001)
        with self._lock:
            self.jump_paths.append(path)
        return {"errcode": 0, "errmsg": "ok"}

    def push_message(self, event: str, *, token: str, transaction_id: str = "", aes_key: str | None = None,
                     create_time: int | None = None, **fields) -> tuple[dict, bytes]:
        """The (query, body) of the message push WeChat sends to our URL for a shipping event,
        signed with `token` and, with `aes_key`, encrypted as safe mode does."""
        payment = self.payments.get(transaction_id)
        message = {"ToUserName": "gh_fake", "FromUserName": payment.openid if payment else "o-fake",
                   "CreateTime": create_time or int(time.time()), "MsgType": "event", "Event": event}
        if transaction_id:
            message.update(transaction_id=transaction_id, merchant_id=payment.mchid if payment else "",
                           sub_merchant_id="", merchant_trade_no=payment.out_trade_no if payment else "",
                           pay_time=payment.pay_time if payment else 0)
        message.update(fields)
        return signed_push(message, token=token, aes_key=aes_key, appid=self.appid)

    def _stable_token(self, body: dict) -> dict:
        if self.token_delay_s:
            time.sleep(self.token_delay_s)
        with self._lock:
            self.token_calls.append(dict(body, secret="***"))
            faults = self._api_faults.get(STABLE_TOKEN)
            if faults:
                return _error(faults.pop(0))
            if body.get("grant_type") != "client_credential":
                return _error(40002)
            if body.get("appid") != self.appid:
                return _error(40013)
            if body.get("secret") != self.secret:
                return _error(40125)
            now = time.monotonic()
            current = self._current and self._tokens.get(self._current)
            if body.get("force_refresh") or not current or current[0] <= now or current[1]:
                if self._current and body.get("force_refresh"):
                    self._tokens[self._current] = (self._tokens[self._current][0], 40001)
                self._current = "ACCESS_TOKEN_" + secrets.token_hex(16)
                self._tokens[self._current] = (now + self.token_ttl_s, None)
            expires = self._tokens[self._current][0]
            return {"access_token": self._current, "expires_in": max(0, int(expires - now))}

    def _check_token(self, token: str | None) -> int | None:
        if not token:
            return 41001
        with self._lock:
            known = self._tokens.get(token)
        if known is None:
            return 40001
        expires, killed = known
        if killed:
            return killed
        return 42001 if expires <= time.monotonic() else None

    def _wxacode(self, body: dict) -> dict | tuple[int, str, bytes]:
        scene, page = body.get("scene"), body.get("page")
        if not isinstance(scene, str) or not 1 <= len(scene) <= 32:
            return _error(40169)
        check_path = body.get("check_path", True)  # WeChat's own default is true
        if page and check_path and self.pages is not None and page not in self.pages:
            return _error(41030)
        width = int(body.get("width") or 430)
        with self._lock:
            self.codes.append(Code(scene=scene, page=page, width=width, check_path=bool(check_path)))
        return 200, "image/png", code_png(scene, max(280, min(width, 1280)))

    def _send(self, body: dict) -> dict:
        touser, template_id, data = body.get("touser"), body.get("template_id"), body.get("data")
        if not touser or touser in self.bad_openids:
            return _error(40003)
        if not template_id or (self.templates is not None and template_id not in self.templates):
            return _error(40037)
        if not isinstance(data, dict) or not data:
            return _error(47003)
        for key, item in data.items():
            value = item.get("value") if isinstance(item, dict) else None
            kind = key.rstrip("0123456789")
            if not isinstance(value, str) or not value or len(value) > DATA_LIMITS.get(kind, 20):
                return {"errcode": 47003, "errmsg": f"argument invalid! data.{key}.value invalid"}
        page = body.get("page")
        if page and self.pages is not None and page.split("?")[0] not in self.pages:
            return _error(41030)
        with self._lock:
            self.sends.append(Send(touser=touser, template_id=template_id, page=page, data=data))
        return {"errcode": 0, "errmsg": "ok"}

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> "FakeWechatApi":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as requests.Session expects of WeChat

            def _reply(self, path, params, answer):
                with fake._lock:
                    fake.calls.append(Call(path=path, params=params, answer=answer))
                if isinstance(answer, tuple):
                    status, content_type, raw = answer
                else:
                    # WeChat reports errors in the body, not the status.
                    status, content_type, raw = 200, "application/json; charset=UTF-8", json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self):  # noqa: N802 - http.server's naming
                url = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                self._reply(url.path, params, fake.answer(url.path, params))

            def do_POST(self):  # noqa: N802
                url = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    body = None
                try:
                    self._reply(url.path, params, fake.answer_post(url.path, params, body))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and went away

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-wechat-api", daemon=True)
        self._thread.start()
        return self


def signed_push(message: dict, *, token: str, aes_key: str | None = None, appid: str = "",
                timestamp: str | None = None, nonce: str | None = None) -> tuple[dict, bytes]:
    """A push as WeChat signs it (message-push.html): plain mode signs Token, timestamp and nonce;
    safe mode encrypts the message (AES-256-CBC, key base64(EncodingAESKey + "="), IV its first 16
    bytes, 16 random bytes + length + message + appid, PKCS#7 to 32) and signs the ciphertext too."""
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or str(secrets.randbelow(10**9))
    plain = json.dumps(message, ensure_ascii=False)
    if not aes_key:
        query = {"signature": _sha1_sorted(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
        if message.get("FromUserName"):
            query["openid"] = message["FromUserName"]
        return query, plain.encode()
    key = base64.b64decode(aes_key + "=")
    raw = secrets.token_bytes(16) + struct.pack(">I", len(plain.encode())) + plain.encode() + appid.encode()
    pad = 32 - len(raw) % 32
    raw += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    cipher = base64.b64encode(enc.update(raw) + enc.finalize()).decode()
    query = {"signature": _sha1_sorted(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
             "encrypt_type": "aes", "msg_signature": _sha1_sorted(token, timestamp, nonce, cipher)}
    return query, json.dumps({"ToUserName": message.get("ToUserName", ""), "Encrypt": cipher}).encode()


def _sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _error(errcode: int) -> dict:
    return {"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")}


@pytest.fixture
def wechat_api(fake_wechat):
    """A fresh fake per test, with the appid and secret the suite's settings use."""
    with FakeWechatApi(appid=fake_wechat.appid, secret=fake_wechat.secret) as fake:
        yield fake
