"""One client for WeChat's server API: a Redis-cached access token refreshed by one process at a
time, errcodes mapped to domain errors (transient ones retried a little), and no secret in a log.

https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-access-token/getStableAccessToken.html
https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/qrcode-link/qr-code/getUnlimitedQRCode.html
https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html
https://developers.weixin.qq.com/miniprogram/dev/platform-capabilities/business-capabilities/order-shipping/order-shipping.html
"""
from __future__ import annotations

import logging
import time
from typing import Any

import requests
from flask import current_app
from redis import Redis
from urllib3.exceptions import NewConnectionError

from app.config import Settings
from app.errors import DomainError
from app.queue import release_lock

log = logging.getLogger(__name__)


# ---- errors ---------------------------------------------------------------------------------

class WechatApiError(DomainError):
    """WeChat's server API said no or could not be asked. `retryable` tells a job whether trying
    again later can help; `errcode` is WeChat's own (None when no answer came)."""

    status, code = 502, "wechat_error"
    retryable = False

    def __init__(self, detail: str | None = None, *, errcode: int | None = None, endpoint: str = ""):
        super().__init__(detail)
        self.errcode = errcode
        self.endpoint = endpoint


class WechatTransient(WechatApiError):
    """Busy, over quota, timed out, unreachable: try again later. `maybe_delivered` is true when the
    request may have reached WeChat (a read timeout), so a retry could act twice."""

    status, code = 503, "wechat_unavailable"
    retryable = True
    maybe_delivered = False
    never_sent = False  # no connection was made: WeChat cannot have acted on it


class WechatRefused(WechatApiError):
    """WeChat refused this request for good (bad openid, data, page or template): retrying the same
    request will be refused again."""

    status, code = 502, "wechat_refused"


class WechatUserRefused(WechatRefused):
    """43101: the user has no grant left for this template (refused or never accepted)."""

    code = "wechat_user_refused"


class WechatMisconfigured(WechatApiError):
    """Our appid, secret or server IP is not accepted: an operator must fix settings."""

    status, code = 503, "wechat_misconfigured"


# https://developers.weixin.qq.com/miniprogram/dev/framework/server-ability/backend-api.html (global codes)
TOKEN_INVALID = {40001, 42001, 40014}  # invalid credential, access_token expired, invalid access_token
TRANSIENT = {-1, 45009, 45011}  # system busy, daily quota reached, minute quota reached
# Order shipping (发货信息管理): 10060001 "支付单不存在" also answers a payment WeChat has not
# filed yet (its community staff: "wait a minute and try again"), 10060012 system busy, 10060019
# system error. None of them means the upload was taken, so trying again is safe.
SHIPPING_TRANSIENT = {10060001, 10060012, 10060019}
TRANSIENT |= SHIPPING_TRANSIENT
USER_REFUSED = 43101
REFUSED = {40003, 47003, 41030, 40037, 40169, 41028, 41029, 43104, 44002, 47001, 40165}
MISCONFIGURED = {40013, 40125, 40164, 41002, 41004, 40002, 61024, 89503}
_RETRY_DELAYS = (0.2, 0.4, 0.8, 1.6, 3.2)

# Delete the key only if it still holds the value we saw: a token another process already replaced
# is left alone.
_COMPARE_AND_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _error_for(errcode: int, errmsg: str, endpoint: str) -> WechatApiError:
    detail = f"WeChat {endpoint} answered {errcode}"
    if errcode in TRANSIENT:
        return WechatTransient(detail + " (busy or over quota); try again later.", errcode=errcode, endpoint=endpoint)
    if errcode == USER_REFUSED:
        return WechatUserRefused(detail + ": the user has not granted this message.", errcode=errcode,
                                 endpoint=endpoint)
    if errcode in MISCONFIGURED:
        return WechatMisconfigured(detail + ": check the appid, secret and IP allow-list.", errcode=errcode,
                                   endpoint=endpoint)
    # REFUSED and any code we do not know: permanent, so a job does not hammer WeChat with it.
    return WechatRefused(f"{detail}: {errmsg[:120]}", errcode=errcode, endpoint=endpoint)


class _TokenRejected(Exception):
    def __init__(self, errcode: int):
        self.errcode = errcode


# ---- the client -----------------------------------------------------------------------------

class WechatClient:
    """Thread-safe; one per app (see wechat_client()) or per process. Calls block on the network:
    make them outside database transactions."""

    def __init__(self, *, settings: Settings, redis: Redis):
        self.settings = settings
        self.redis = redis
        self.base = settings.wechat_api_base.rstrip("/")
        self.token_key = f"linli:wechat:access_token:{settings.wechat_appid}"
        self.lock_key = f"linli:wechat:access_token:{settings.wechat_appid}:lock"
        self._cad = redis.register_script(_COMPARE_AND_DELETE)
        self._http = requests.Session()

    # -- access token --

    def access_token(self) -> str:
        """The cached token, or a fresh one if none is cached (one process fetches it)."""
        cached = self.redis.get(self.token_key)
        if cached:
            return cached.decode()
        return self._refresh(stale=None)

    def _refresh(self, *, stale: str | None) -> str:
        """Fetch a token under a Redis lock. `stale` is a token WeChat just rejected: the cache is
        cleared only if it still holds it, and a token other than it, once cached, is taken as is."""
        if stale is not None:
            self._cad(keys=[self.token_key], args=[stale])
        timeout = self.settings.wechat_timeout_s
        # The lock outlives one stable_token call with its retries; a holder that dies lets it expire.
        lock_ms = int((timeout + 1) * (self.settings.wechat_retries + 1) * 1000) + 1000
        deadline = time.monotonic() + lock_ms / 1000 + timeout
        # redis-py's Lock: a token of its own per holder, released only by its holder (Lua).
        lock = self.redis.lock(self.lock_key, timeout=lock_ms / 1000)
        while True:
            cached = self.redis.get(self.token_key)
            if cached and cached.decode() != stale:
                return cached.decode()
            if lock.acquire(blocking=False):
                try:
                    # Re-read under the lock: the previous holder may have just stored one.
                    cached = self.redis.get(self.token_key)
                    if cached and cached.decode() != stale:
                        return cached.decode()
                    return self._fetch_token(force_refresh=stale is not None)
                finally:
                    release_lock(lock)
            if time.monotonic() > deadline:
                raise WechatTransient("Timed out waiting for another process to fetch WeChat's access token.",
                                      endpoint="/cgi-bin/stable_token")
            time.sleep(0.05)

    def _fetch_token(self, *, force_refresh: bool) -> str:
        s = self.settings
        data = self._call_json("/cgi-bin/stable_token", {
            "grant_type": "client_credential", "appid": s.wechat_appid, "secret": s.wechat_secret,
            "force_refresh": force_refresh}, token=None, idempotent=True)
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise WechatTransient("WeChat's stable_token answer lacks access_token.", endpoint="/cgi-bin/stable_token")
        margin = s.wechat_token_margin_s
        ttl = expires_in - margin if expires_in > margin else max(1, expires_in // 2)
        self.redis.set(self.token_key, token, ex=ttl)
        log.info("wechat access token fetched (force_refresh=%s, cached %d s)", force_refresh, ttl)
        return token

    # -- API calls --

    def wxacode_get_unlimited(self, *, scene: str, page: str | None = None, width: int = 430,
                              check_path: bool = False) -> bytes:
        """A mini-program code image (PNG or JPEG bytes) that opens `page` with `scene`."""
        body: dict[str, Any] = {"scene": scene, "width": width, "check_path": check_path}
        if page:
            body["page"] = page
        resp = self._with_token("/wxa/getwxacodeunlimit", body, idempotent=True)
        ctype = resp.headers.get("Content-Type", "")
        raw = resp.content
        if ctype.startswith("image/") and (raw[:8] == b"\x89PNG\r\n\x1a\n" or raw[:3] == b"\xff\xd8\xff"):
            return raw
        raise WechatTransient("WeChat's getwxacodeunlimit answer was not an image.", endpoint="/wxa/getwxacodeunlimit")

    def send_subscribe_message(self, *, touser_openid: str, template_id: str, page: str | None,
                               data: dict) -> None:
        """Send one subscribe message. A read timeout is not retried here (WeChat may have sent
        it): it raises WechatTransient with maybe_delivered set."""
        body: dict[str, Any] = {"touser": touser_openid, "template_id": template_id, "data": data}
        if page:
            body["page"] = page
        self._with_token("/cgi-bin/message/subscribe/send", body, idempotent=False)

    # -- order shipping (发货信息管理) --

    def upload_shipping_info(self, body: dict) -> None:
        """POST /wxa/sec/order/upload_shipping_info. Not idempotent at WeChat (a second upload of a
        payment spends its one allowed change): a read timeout is not retried here, it raises
        WechatTransient with maybe_delivered set, and the caller looks the order up instead."""
        self._with_token("/wxa/sec/order/upload_shipping_info", body, idempotent=False)

    def get_shipping_order(self, *, transaction_id: str) -> dict:
        """POST /wxa/sec/order/get_order: WeChat's view of one payment (its `order` object)."""
        resp = self._with_token("/wxa/sec/order/get_order", {"transaction_id": transaction_id}, idempotent=True)
        order = resp.json().get("order")
        if not isinstance(order, dict):
            raise WechatTransient("WeChat's get_order answer lacks order.", endpoint="/wxa/sec/order/get_order")
        return order

    def get_shipping_order_list(self, body: dict) -> dict:
        """POST /wxa/sec/order/get_order_list: one page ({order_list, last_index, has_more})."""
        return self._with_token("/wxa/sec/order/get_order_list", body, idempotent=True).json()

    def set_msg_jump_path(self, *, path: str) -> None:
        """POST /wxa/sec/order/set_msg_jump_path: where WeChat's shipping messages open the mini-program."""
        self._with_token("/wxa/sec/order/set_msg_jump_path", {"path": path}, idempotent=True)

    # -- plumbing --

    def _with_token(self, endpoint: str, body: dict, *, idempotent: bool) -> requests.Response:
        token = self.access_token()
        try:
            return self._call(endpoint, body, token=token, idempotent=idempotent)
        except _TokenRejected as e:
            # Expired early or replaced by a force refresh elsewhere: one fresh token, one more try.
            log.warning("wechat %s rejected the access token (errcode %s); refreshing once", endpoint, e.errcode)
            token = self._refresh(stale=token)
            try:
                return self._call(endpoint, body, token=token, idempotent=idempotent)
            except _TokenRejected as again:
                raise WechatTransient(f"WeChat {endpoint} rejected a fresh access token ({again.errcode}).",
                                      errcode=again.errcode, endpoint=endpoint) from None

    def _call_json(self, endpoint: str, body: dict, *, token: str | None, idempotent: bool) -> dict:
        resp = self._call(endpoint, body, token=token, idempotent=idempotent)
        return resp.json()

    def _call(self, endpoint: str, body: dict, *, token: str | None, idempotent: bool) -> requests.Response:
        """POST with bounded retries of transient failures. Raises _TokenRejected on a token errcode."""
        attempts = self.settings.wechat_retries + 1
        for attempt in range(attempts):
            try:
                return self._once(endpoint, body, token=token)
            except WechatTransient as e:
                # A request that is not idempotent is tried again here only on WeChat's own word
                # (an errcode) or when it never left: an HTTP error or lost answer may follow an
                # acted-on request, and the caller must look before sending it again.
                unanswered = e.errcode is None and not e.never_sent
                if attempt + 1 >= attempts or (not idempotent and (e.maybe_delivered or unanswered)):
                    raise
                time.sleep(_RETRY_DELAYS[attempt])
        raise AssertionError("unreachable")

    def _once(self, endpoint: str, body: dict, *, token: str | None) -> requests.Response:
        params = {"access_token": token} if token else None
        try:
            resp = self._http.post(self.base + endpoint, params=params, json=body,
                                   timeout=self.settings.wechat_timeout_s)
        except requests.RequestException as e:
            # The endpoint and the kind of failure only: the exception's text holds the URL, whose
            # query carries the access token.
            log.warning("wechat %s failed: %s", endpoint, type(e).__name__)
            err = WechatTransient(f"WeChat {endpoint} could not be reached ({type(e).__name__}).", endpoint=endpoint)
            err.never_sent = _never_sent(e)
            err.maybe_delivered = not err.never_sent
            raise err from None
        if resp.status_code >= 500 or resp.status_code == 429:
            log.warning("wechat %s answered HTTP %s", endpoint, resp.status_code)
            raise WechatTransient(f"WeChat {endpoint} answered HTTP {resp.status_code}.", endpoint=endpoint)
        if resp.headers.get("Content-Type", "").startswith("image/"):
            return resp
        try:
            data = resp.json()
        except ValueError:
            log.warning("wechat %s answered HTTP %s without JSON", endpoint, resp.status_code)
            raise WechatTransient(f"WeChat {endpoint} gave an unreadable answer.", endpoint=endpoint) from None
        if not isinstance(data, dict):
            raise WechatTransient(f"WeChat {endpoint} gave an unexpected answer.", endpoint=endpoint)
        errcode = int(data.get("errcode") or 0)
        if errcode:
            log.warning("wechat %s errcode %s", endpoint, errcode)
            if errcode in TOKEN_INVALID and token is not None:
                raise _TokenRejected(errcode)
            raise _error_for(errcode, str(data.get("errmsg", "")), endpoint)
        return resp


def _never_sent(e: requests.RequestException) -> bool:
    """True when the request cannot have reached WeChat (no connection was made); a read timeout or
    a reset after sending may have been acted on."""
    if isinstance(e, requests.ConnectTimeout):
        return True
    if isinstance(e, requests.ConnectionError) and e.args:
        return isinstance(getattr(e.args[0], "reason", None), NewConnectionError)
    return False


def wechat_client() -> WechatClient:
    """The current app's client (built once per app: its HTTP session keeps connections open)."""
    ext = current_app.extensions
    client = ext.get("linli.wechat")
    if client is None:
        client = ext["linli.wechat"] = WechatClient(settings=ext["linli.settings"], redis=ext["linli.redis"])
    return client
