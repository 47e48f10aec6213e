"""The payment provider a deployment is configured with (LINLI_PAYMENT_PROVIDER)."""
from __future__ import annotations

from app.config import Settings
from app.payment.providers import PaymentProvider, SandboxProvider
from app.payment.wechatpay import WechatPayProvider


def make_provider(settings: Settings) -> PaymentProvider:
    if settings.payment_provider == "wechatpay":
        return WechatPayProvider(settings)
    return SandboxProvider(settings)
