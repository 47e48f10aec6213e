"""The fake WeChat Pay with its merchant transfer, for the earnings tests: one server per session,
reset for each test. A module that wants the app to use it overrides settings_overrides with
wechatpay.settings() (the others run on the sandbox provider)."""
from __future__ import annotations

import pytest

from tests.fakes.wechatpay import FakeWechatPay
from tests.fakes.wechatpay_transfers import FakeTransfers


@pytest.fixture(scope="session")
def wechatpay_server(tmp_path_factory):
    fake = FakeWechatPay(key_dir=tmp_path_factory.mktemp("wechatpay-keys"))
    FakeTransfers(fake)
    yield fake
    fake.stop()


@pytest.fixture
def wechatpay(wechatpay_server):
    wechatpay_server.reset()
    wechatpay_server.transfers.reset()
    return wechatpay_server
