"""Typed settings read from LINLI_* environment variables."""
from __future__ import annotations

from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-secret-change-me-please-0123456789"
VAR_DIR = Path.cwd() / "var"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    database_url: str = f"sqlite:///{VAR_DIR / 'linli.db'}"
    redis_url: str = "redis://127.0.0.1:6379/0"
    secret_key: str = DEFAULT_SECRET
    token_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    # None means "the default for the environment": on in dev/test, off in prod.
    dev_login: bool | None = None
    ratelimit_enabled: bool = True
    ratelimit_default: str = "600 per minute"
    ratelimit_auth: str = "30 per minute"

    timezone: str = "Asia/Shanghai"
    order_cutoff: time = time(23, 0)
    manifest_at: time = time(23, 30)
    payment_timeout_s: int = Field(default=900, ge=1)
    expiry_sweep_interval_s: int = Field(default=60, ge=1)
    # Anti-hoarding: units of one SKU in one order (after merging repeated lines), and unpaid
    # orders one buyer may hold at once (each holds stock until it is paid or expires).
    max_qty_per_sku: int = Field(default=99, ge=1, le=999)  # le: an order line's own bound
    max_unpaid_orders: int = Field(default=5, ge=1)
    commission_rate: Decimal = Field(default=Decimal("0.10"), ge=0, le=1)
    commission_freeze_days: int = Field(default=7, ge=0)
    commission_settle_interval_s: int = Field(default=600, ge=1)

    queue_name: str = "linli"

    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_appid: str = "wx-dev-appid"
    wechat_secret: str = "wx-dev-secret"
    wechat_timeout_s: float = 5.0

    payment_provider: Literal["sandbox", "wechatpay"] = "sandbox"
    wechatpay_api_base: str = "https://api.mch.weixin.qq.com"
    wechatpay_mchid: str = ""
    wechatpay_cert_serial_no: str = ""
    wechatpay_private_key_path: str = ""
    wechatpay_apiv3_key: str = ""
    wechatpay_public_key_path: str = ""
    wechatpay_public_key_id: str = ""
    # Key rotation: every WeChat Pay public key to trust, as JSON {"PUB_KEY_ID_...": "/path/pub_key.pem"};
    # Wechatpay-Serial picks one. The single key above, if set, is trusted as well.
    wechatpay_public_keys: dict[str, str] = Field(default_factory=dict)
    wechatpay_notify_url: str = "https://example.invalid/api/v1/payments/wechatpay/notify"
    wechatpay_notify_max_age_s: int = 300

    @field_validator("commission_rate", mode="before")
    @classmethod
    def _rate_from_percent(cls, v):
        # Accept "10%" as well as "0.10".
        if isinstance(v, str) and v.strip().endswith("%"):
            return Decimal(v.strip()[:-1]) / 100
        return v

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        ZoneInfo(self.timezone)  # raises for an unknown zone
        if self.dev_login is None:
            self.dev_login = self.env != "prod"
        if self.env == "prod":
            if self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32:
                raise ValueError("LINLI_SECRET_KEY must be set to a random value of 32+ characters in prod")
            if self.dev_login:
                raise ValueError("LINLI_DEV_LOGIN must be off in prod")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
