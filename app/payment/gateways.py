"""The payment provider a deployment is configured with (LINLI_PAYMENT_PROVIDER), and its
transfer gateway (money out to a leader)."""
from __future__ import annotations

from app.config import Settings
from app.payment.providers import PaymentProvider, SandboxProvider
from app.payment.transfers import SandboxTransfers, TransferGateway
from app.payment.wechat_transfers import WechatTransfers
from app.payment.wechatpay import WechatPayProvider


def make_provider(settings: Settings) -> PaymentProvider:
    if settings.payment_provider == "wechatpay":
        return WechatPayProvider(settings)
    return SandboxProvider(settings)


def transfers_of(provider: PaymentProvider) -> TransferGateway:
    """The transfer gateway on the same merchant, keys and client as the payment provider."""
    if isinstance(provider, WechatPayProvider):
        return WechatTransfers(provider)
    return SandboxTransfers()
