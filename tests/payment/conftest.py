"""A local fake WeChat Pay for the payment tests: one server per session, reset for each test. A
module that wants the app to use it overrides settings_overrides with wechatpay.settings()."""
from __future__ import annotations

import pytest

from tests.fakes.wechatpay import FakeWechatPay


@pytest.fixture(scope="session")
def wechatpay_server(tmp_path_factory):
    fake = FakeWechatPay(key_dir=tmp_path_factory.mktemp("wechatpay-keys"))
    yield fake
    fake.stop()


@pytest.fixture
def wechatpay(wechatpay_server):
    wechatpay_server.reset()
    return wechatpay_server
