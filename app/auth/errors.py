"""The auth domain's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import DomainError, ServiceUnavailable, Unauthorized


class WechatCodeInvalid(Unauthorized):
    code = "wechat_code_invalid"


class WechatRateLimited(DomainError):
    status, code = 429, "wechat_rate_limited"


class WechatUnavailable(ServiceUnavailable):
    code = "wechat_unavailable"
