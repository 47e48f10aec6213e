"""Client for WeChat's jscode2session (mini-program login)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import requests

from app.auth.errors import WechatCodeInvalid, WechatRateLimited, WechatUnavailable
from app.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WechatSession:
    openid: str
    session_key: str
    unionid: str | None


# https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html
_INVALID_CODE = {40029, 40163, 40226}  # invalid code, code already used, high-risk user blocked
_RATE_LIMITED = {45011}


def jscode2session(settings: Settings, code: str) -> WechatSession:
    endpoint = settings.wechat_api_base.rstrip("/") + "/sns/jscode2session"
    try:
        resp = requests.get(
            endpoint,
            params={"appid": settings.wechat_appid, "secret": settings.wechat_secret,
                    "js_code": code, "grant_type": "authorization_code"},
            timeout=settings.wechat_timeout_s,
        )
        # WeChat answers 200 with a JSON body (often labelled text/plain), errors included.
        data = resp.json()
    except (requests.RequestException, ValueError) as e:
        # The endpoint and the kind of failure only: the exception's text holds the full URL, whose
        # query carries the AppSecret and the user's login code.
        log.warning("jscode2session at %s failed: %s", endpoint, type(e).__name__)
        raise WechatUnavailable("WeChat login service could not be reached.") from e
    if not isinstance(data, dict):
        raise WechatUnavailable("WeChat login service gave an unexpected answer.")
    errcode = int(data.get("errcode") or 0)
    if errcode:
        errmsg = str(data.get("errmsg", ""))
        if errcode in _INVALID_CODE:
            raise WechatCodeInvalid(f"WeChat rejected the login code ({errcode}: {errmsg}).")
        if errcode in _RATE_LIMITED:
            raise WechatRateLimited("WeChat login is rate limited; try again shortly.")
        log.warning("jscode2session error %s: %s", errcode, errmsg)
        raise WechatUnavailable(f"WeChat login failed ({errcode}).")
    if not data.get("openid") or not data.get("session_key"):
        raise WechatUnavailable("WeChat login answer lacks openid.")
    return WechatSession(openid=data["openid"], session_key=data["session_key"], unionid=data.get("unionid"))
