"""With the sandbox provider (the dev default) there is no WeChat Pay endpoint to call."""
from __future__ import annotations

import json


def test_the_wechatpay_notify_endpoint_is_404_when_the_sandbox_provider_is_configured(client):
    body = json.dumps({"id": "x", "resource_type": "encrypt-resource", "resource": {}})

    r = client.post("/api/v1/payments/wechatpay/notify", data=body, headers={
        "Content-Type": "application/json", "Wechatpay-Signature": "c2ln", "Wechatpay-Timestamp": "1",
        "Wechatpay-Nonce": "n", "Wechatpay-Serial": "s"})

    assert r.status_code == 404 and r.get_json()["code"] == "not_found"
