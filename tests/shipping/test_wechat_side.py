"""The WeChat side of the sync: the fake refuses what WeChat refuses (so the uploads the other
tests see accepted are well-formed), the client maps its answers, and the CLI sets the message
jump path once."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from app.cli import main
from app.wechat import WechatRefused, WechatTransient, wechat_client
from tests.fakes.wechat_api import UPLOAD_SHIPPING, wechat_api  # noqa: F401 - the fixture


@pytest.fixture
def settings_overrides(wechat_api):
    return {**wechat_api.settings(), "wechat_retries": 0, "wechat_timeout_s": 1.0}


def good_body(**changes) -> dict:
    body = {"order_key": {"order_number_type": 2, "transaction_id": "4200TXN"}, "logistics_type": 4,
            "delivery_mode": 1, "shipping_list": [{"item_desc": "麒麟西瓜*1"}],
            "upload_time": "2026-12-04T22:00:00.000+08:00", "payer": {"openid": "o-payer"}}
    body.update(changes)
    return body


@pytest.mark.parametrize("changes, errcode", [
    ({"shipping_list": [{"item_desc": "a"}, {"item_desc": "b"}]}, 268485228),  # one entry in unified delivery
    ({"shipping_list": [{"item_desc": ""}]}, 10060008),
    ({"shipping_list": [{"item_desc": "瓜" * 121}]}, 10060009),
    ({"upload_time": "2026-12-04T22:00:00"}, 268485216),  # no offset
    ({"upload_time": "2026-12-04 22:00:00+08:00"}, 268485216),
    ({"logistics_type": 9}, 10060005),
    ({"delivery_mode": 3}, 268485224),
    ({"delivery_mode": 2, "is_all_delivered": True}, 10060006),  # split delivery is for couriers only
    ({"logistics_type": 1}, 10060014),  # a courier needs tracking_no and express_company
    ({"payer": {"openid": "o-someone-else"}}, 10060014),
    ({"order_key": {"order_number_type": 2, "transaction_id": "4200UNKNOWN"}}, 10060001),
    ({"order_key": {"order_number_type": 1, "mchid": "1900000109"}}, 10060014),
])
def test_the_fake_refuses_what_wechat_refuses(app, wechat_api, changes, errcode):
    wechat_api.add_payment(transaction_id="4200TXN", mchid="1900000109", out_trade_no="LL000000000001",
                           openid="o-payer")
    with app.app_context():
        with pytest.raises((WechatRefused, WechatTransient)) as e:
            wechat_client().upload_shipping_info(good_body(**changes))
    assert e.value.errcode == errcode
    assert wechat_api.shipping_uploads == []


def test_one_change_per_payment_and_none_after_settlement(app, wechat_api):
    wechat_api.add_payment(transaction_id="4200TXN", mchid="1900000109", out_trade_no="LL000000000001",
                           openid="o-payer")
    with app.app_context():
        client = wechat_client()
        client.upload_shipping_info(good_body())
        by_trade_no = {"order_number_type": 1, "mchid": "1900000109", "out_trade_no": "LL000000000001"}
        client.upload_shipping_info(good_body(order_key=by_trade_no))  # the one change
        with pytest.raises(WechatRefused) as e:
            client.upload_shipping_info(good_body())
        assert e.value.errcode == 10060003
        assert client.get_shipping_order(transaction_id="4200TXN")["order_state"] == 2
        wechat_api.settle("4200TXN")
        with pytest.raises(WechatRefused) as e:
            client.upload_shipping_info(good_body())
        assert e.value.errcode == 10060002
    assert wechat_api.payments["4200TXN"].changes == 1


def test_an_unanswered_upload_is_not_retried_by_the_client(app, wechat_api):
    """With in-call retries on, a timeout after sending still raises at once (maybe delivered)."""
    wechat_api.add_payment(transaction_id="4200TXN", mchid="1900000109", out_trade_no="LL000000000001",
                           openid="o-payer")
    wechat_api.stall_after_next(UPLOAD_SHIPPING, 2.0)
    with app.app_context():
        client = wechat_client()
        client.settings = client.settings.model_copy(update={"wechat_retries": 2})
        with pytest.raises(WechatTransient) as e:
            client.upload_shipping_info(good_body())
    assert e.value.maybe_delivered and e.value.errcode is None
    assert wechat_api.upload_calls == 1


def test_set_jump_path_is_one_cli_command(app, wechat_api, monkeypatch):
    s = app.extensions["linli.settings"]
    for name in ("database_url", "redis_url", "wechat_api_base", "wechat_appid", "wechat_secret", "queue_name"):
        monkeypatch.setenv(f"LINLI_{name.upper()}", str(getattr(s, name)))
    monkeypatch.setenv("LINLI_ENV", "test")
    result = CliRunner().invoke(main, ["shipping", "set-jump-path", "--path", "pages/order/detail"])
    assert result.exit_code == 0, result.output
    assert wechat_api.jump_paths == ["pages/order/detail"]
    wechat_api.fail_next("/wxa/sec/order/set_msg_jump_path", 47001)
    result = CliRunner().invoke(main, ["shipping", "set-jump-path", "--path", "pages/order/detail"])
    assert result.exit_code != 0 and "47001" in result.output
