"""WeChat's server API (api.weixin.qq.com): the access token shared by every process, mini-program
codes, subscribe messages, and WeChat's errcodes as domain errors. Login (jscode2session) stays in
app/auth/wechat.py: it needs no access token."""
from app.wechat.client import (WechatApiError, WechatClient, WechatMisconfigured, WechatRefused, WechatTransient,
                               WechatUserRefused, wechat_client)

__all__ = ["WechatApiError", "WechatClient", "WechatMisconfigured", "WechatRefused", "WechatTransient",
           "WechatUserRefused", "wechat_client"]
