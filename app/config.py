"""Typed settings read from LINLI_* environment variables."""
from __future__ import annotations

import ipaddress
import math
from collections import Counter
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from flask import current_app
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-secret-change-me-please-0123456789"
VAR_DIR = Path.cwd() / "var"

SECRET_RULE = ("at least 32 characters, at least 8 distinct ones and at least 2.5 bits of Shannon entropy "
               "per character; no 8 characters repeated (`abcdefghabcdefgh...`, `changeme-changeme-...`), "
               "nothing containing the public default or a placeholder word (change, secret, default, example, "
               "placeholder, password, replace, sample, dummy, your); e.g. `openssl rand -hex 32`")

# Words a placeholder secret is made of; `openssl rand -hex 32` (0-9, a-f) can hold none of them,
# and a random base64 secret one of them about once in a million.
PLACEHOLDER_WORDS = ("change", "secret", "default", "example", "placeholder", "password", "replace", "sample",
                     "dummy", "your")
REPEAT_SPAN = 8  # a run this long seen twice in one secret is a pattern, not randomness


def secret_is_strong(secret: str) -> bool:
    """A cheap guard against placeholder secrets (32 spaces, one letter repeated, `abab...`, a
    repeated phrase, the public default with a character added, `your-secret-key-here`)."""
    if len(secret) < 32 or len(set(secret)) < 8:
        return False
    lowered = secret.lower()
    if DEFAULT_SECRET.lower() in lowered or any(word in lowered for word in PLACEHOLDER_WORDS):
        return False
    runs = [secret[i:i + REPEAT_SPAN] for i in range(len(secret) - REPEAT_SPAN + 1)]
    if len(set(runs)) < len(runs):
        return False
    n = len(secret)
    entropy = -sum(c / n * math.log2(c / n) for c in Counter(secret).values())
    return entropy >= 2.5


def is_loopback_host(host: str) -> bool:
    """True for an address only this machine can reach; unknown names count as reachable."""
    host = host.strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    database_url: str = f"sqlite:///{VAR_DIR / 'linli.db'}"
    redis_url: str = "redis://127.0.0.1:6379/0"
    secret_key: str = DEFAULT_SECRET
    token_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    # None means "the default for the environment": on in dev/test, off in prod.
    dev_login: bool | None = None
    # Outside prod the server binds loopback only and dev login answers loopback callers only;
    # this opens both on purpose (a phone on the LAN, a container).
    allow_remote_dev: bool = False
    ratelimit_enabled: bool = True
    # GET /metrics answers loopback callers, or a bearer of this token; 404 to anyone else.
    metrics_token: str | None = None
    # Where each `linli serve` keeps its gunicorn workers' metric files (a directory per port,
    # wiped when it starts), unless PROMETHEUS_MULTIPROC_DIR says where.
    metrics_dir: str = "var/metrics"
    # Log lines of every process: text, or one JSON object a line (read from the environment
    # when logging starts, before the rest of the settings).
    log_format: Literal["text", "json"] = "text"
    ratelimit_default: str = "600 per minute"
    ratelimit_auth: str = "30 per minute"
    # Chat: messages one user may post (flask-limiter syntax), the WebSocket heartbeat (protocol
    # ping, presence refresh) and how long "online" outlives the last heartbeat.
    chat_message_rate: str = "60 per minute"
    ws_heartbeat_s: int = Field(default=25, ge=1, le=300)
    ws_presence_ttl_s: int = Field(default=60, ge=2)
    # Open sockets one user may hold on one `serve` process (tabs, devices); more are refused 429.
    ws_max_per_user: int = Field(default=10, ge=1, le=10_000)

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

    # Flash sales: their keys may live on their own Redis (a Cluster too: redis+cluster:// or
    # LINLI_FLASH_REDIS_CLUSTER=1); RQ stays on LINLI_REDIS_URL.
    flash_redis_url: str | None = None
    flash_redis_cluster: bool = False
    flash_payment_timeout_s: int = Field(default=300, ge=1)
    flash_drain_batch: int = Field(default=500, ge=1, le=10_000)
    flash_ratelimit_user: str = "5 per second"
    flash_ratelimit_ip: str = "200 per second"
    # The purchase's own lane (app.flashsale.lane): an ordinary purchase is answered without
    # Flask's request machinery. Off: every purchase goes through Flask (the same answers).
    flash_lane: bool = True
    # Group-buy deadlines and bargain records: how often the sweep looks for ones whose timer
    # job was lost or ran while no worker was up.
    group_sweep_interval_s: int = Field(default=60, ge=1)
    # Every `linli worker` also drains flash reservations and sweeps due deadlines (group
    # deadlines, bargain expiry, unpaid orders) in threads of its own, every this many seconds
    # (0: not this worker; app/clockwork.py says why the queue alone is not on time).
    flash_drain_tick_s: float = Field(default=0.25, ge=0, le=60)
    deadline_tick_s: float = Field(default=2.0, ge=0, le=60)
    bargain_helps_per_day: int = Field(default=5, ge=1)

    # Sharing and points: how a share's visitor is bound to the sharer's leader's point (first:
    # only when unbound; override: always; off: never), how long after opening a share an order
    # is credited to it, what the sharer earns of an attributed order's total when it is picked
    # up, and at most what share of an order's total may be paid with points (below 1, so that
    # every order pays at least a fen through the payment provider).
    binding_mode: Literal["first", "override", "off"] = "first"
    share_attribution_days: int = Field(default=7, ge=0, le=365)
    share_reward_rate: Decimal = Field(default=Decimal("0.02"), ge=0, le=1)
    points_max_ratio: Decimal = Field(default=Decimal("0.5"), ge=0, lt=1)
    # Posters without WeChat: drawn around a placeholder code instead of WeChat's mini-program code
    # (which a dev appid cannot get), never kept, so that a real one is drawn once this is off.
    # None means "the default for the environment": on in dev/test, off (and refused) in prod.
    poster_placeholder: bool | None = None

    queue_name: str = "linli"
    # `linli serve`'s access log: "-" (stdout), a file path, or "off".
    access_log: str = "-"

    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_appid: str = "wx-dev-appid"
    wechat_secret: str = "wx-dev-secret"
    wechat_timeout_s: float = 5.0
    # The server API's access token is cached in Redis until this long before WeChat says it
    # expires, so no call carries a token that dies in flight.
    wechat_token_margin_s: int = Field(default=300, ge=0)
    # Transient failures (-1 busy, quotas, a lost connection) are retried this many more times in
    # the call itself, 0.2 s, 0.4 s, ... apart; longer waits belong to RQ's Retry in the jobs.
    wechat_retries: int = Field(default=2, ge=0, le=5)
    # Subscribe messages: template id per kind (JSON: {"order_ready": "tmpl-...", ...}). A kind
    # without a template is not sent (nothing is written for it).
    wechat_templates: dict[Literal["order_ready", "group_result", "bargain_completed", "manifest_ready",
                                   "chat_unread", "coupon_granted"], str] = Field(default_factory=dict)
    # Waits before a send that met a transient error is tried again (RQ Retry); after the last,
    # the send is `failed`.
    subscribe_retry_s: list[int] = Field(default_factory=lambda: [30, 120, 600], max_length=10)

    # Order shipping sync (发货信息录入, app/shipping): WeChat's message push Token and, in its
    # safe mode, EncodingAESKey (43 characters). The push endpoint answers 404 while the Token is
    # empty; with a key set, only encrypted pushes are taken.
    wechat_push_token: str = ""
    wechat_push_aes_key: str = Field(default="", pattern=r"^$|^[A-Za-z0-9+/]{43}$")
    # Waits before an upload that met a transient error (payment not filed yet, busy) is tried
    # again; after the last, the order's sync is `failed` for an operator.
    shipping_retry_s: list[int] = Field(default_factory=lambda: [60, 300, 900, 3600, 14400], max_length=20)
    # The daily sweep (get_order_list: payments WeChat still holds as awaiting shipment) runs at
    # this local time over the payments of the last shipping_sweep_days days.
    shipping_sweep_at: time = time(9, 0)
    shipping_sweep_days: int = Field(default=30, ge=1, le=90)
    # Paid through WeChat Pay this long ago without an upload: counted as overdue for operators.
    shipping_overdue_h: int = Field(default=36, ge=1)

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

    # Leader withdrawals (团长提现) through WeChat Pay's merchant transfer (transfer-bills): the
    # smallest amount a leader may ask for, a fixed fee kept back from each (fen), how many a leader
    # may ask for per business day, and below what amount a withdrawal skips the operator's review
    # (0: every withdrawal is reviewed). A bill the leader never confirms in the mini-program is
    # cancelled after LINLI_TRANSFER_CONFIRM_TTL_H hours (WeChat Pay itself gives up after 24).
    withdraw_min: int = Field(default=100, ge=1)
    withdraw_fee: int = Field(default=0, ge=0)
    withdraw_daily_count: int = Field(default=3, ge=1)
    withdraw_auto_approve: int = Field(default=0, ge=0)
    transfer_confirm_ttl_h: int = Field(default=24, ge=1, le=24 * 30)
    transfer_notify_url: str = "https://example.invalid/api/v1/payments/wechatpay/transfer-notify"
    transfer_sweep_interval_s: int = Field(default=300, ge=1)

    # The wallet's pay code (付款码): how long a code shown in the mini-program stays valid, and how
    # many wrong codes a leader may enter in PAY_CODE_WRONG_WINDOW_S before being refused (429).
    pay_code_ttl_s: int = Field(default=60, ge=10, le=600)
    pay_code_wrong_limit: int = Field(default=10, ge=1)
    pay_code_wrong_window_s: int = Field(default=600, ge=1)

    # After-sales (售后): how long after arrival a buyer may ask (hours), up to what amount (fen)
    # the point's leader decides alone (above it an approval goes to an operator), how long a
    # request may wait for the leader before it escalates by itself (hours), and the reasons a
    # buyer picks from (JSON list).
    after_sale_window_h: int = Field(default=48, ge=1, le=24 * 365)
    leader_after_sale_limit: int = Field(default=5000, ge=0)
    after_sale_sla_h: int = Field(default=24, ge=1, le=24 * 30)
    after_sale_reasons: list[str] = Field(default_factory=lambda: [
        "质量问题", "商品损坏", "少件漏发", "与描述不符", "变质腐烂", "其他"], min_length=1)
    after_sale_sweep_interval_s: int = Field(default=300, ge=1)

    # Reconciliation (对账): WeChat Pay makes yesterday's bills after 10:00 Beijing time; a bill
    # still being made (STATEMENT_CREATING) is asked for again every RETRY_MINUTES, at most
    # MAX_ATTEMPTS times in all, before the date's run is marked failed for an operator.
    reconcile_at: time = time(10, 0)
    reconcile_retry_minutes: int = Field(default=30, ge=1, le=24 * 60)
    reconcile_max_attempts: int = Field(default=12, ge=1, le=1000)

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
        if self.poster_placeholder is None:
            self.poster_placeholder = self.env != "prod"
        if self.env == "prod":
            if not secret_is_strong(self.secret_key):
                raise ValueError(f"LINLI_SECRET_KEY must be a random secret in prod: {SECRET_RULE}")
            if self.dev_login:
                raise ValueError("LINLI_DEV_LOGIN must be off in prod")
            if self.poster_placeholder:
                raise ValueError("LINLI_POSTER_PLACEHOLDER must be off in prod: its posters carry no "
                                 "mini-program code a phone can open")
            if self.payment_provider == "sandbox":
                raise ValueError("LINLI_PAYMENT_PROVIDER=sandbox marks orders paid without taking money: "
                                 "set LINLI_PAYMENT_PROVIDER=wechatpay (and its LINLI_WECHATPAY_* keys) in prod")
        return self

    def bind_refusal(self, host: str) -> str | None:
        """Why a server of these settings must not listen on `host`, or None if it may.

        Fail closed for a deployment that forgot LINLI_ENV=prod: outside prod only loopback,
        unless LINLI_ALLOW_REMOTE_DEV=1; and never the public default secret off loopback.
        """
        if is_loopback_host(host):
            return None
        if self.env != "prod" and not self.allow_remote_dev:
            return (f"LINLI_ENV={self.env} serves on loopback only (127.0.0.1, ::1); refusing {host}. "
                    "Set LINLI_ENV=prod for a real server, or LINLI_ALLOW_REMOTE_DEV=1 to expose dev mode "
                    "(and its dev login) on purpose.")
        if self.secret_key == DEFAULT_SECRET:
            return (f"the default LINLI_SECRET_KEY is public: anyone could sign tokens. Refusing {host}; "
                    f"set LINLI_SECRET_KEY ({SECRET_RULE}).")
        return None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def current_settings() -> Settings:
    """The running app's settings (API request, worker job, CLI command: all inside an app context)."""
    return current_app.extensions["linli.settings"]
