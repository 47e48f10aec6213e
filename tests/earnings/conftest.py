"""The fake WeChat Pay with its merchant transfer, for the earnings tests: one server per session,
reset for each test. A module that wants the app to use it overrides settings_overrides with
wechatpay.settings() (the others run on the sandbox provider)."""
from __future__ import annotations

from tests.fakes.wechatpay_transfers import wechatpay, wechatpay_server  # noqa: F401 - fixtures
