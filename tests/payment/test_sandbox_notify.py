"""With the sandbox provider (the dev default) there is no WeChat Pay endpoint to call."""
from __future__ import annotations

import json


def test_the_wechatpay_notify_endpoint_is_404_when_the_sandbox_provider_is_configured(client):
    body = json.dumps({"id": "x", "resource_type": "encrypt-resource", "resource": {}})

    r = client.post("/api/v1/payments/wechatpay/notify", data=body, headers={
        "Content-Type": "application/json", "Wechatpay-Signature": "c2ln", "Wechatpay-Timestamp": "1",
        "Wechatpay-Nonce": "n", "Wechatpay-Serial": "s"})

    assert r.status_code == 404 and r.get_json()["code"] == "not_found"


def test_sandbox_refunds_succeed_in_the_job_and_a_sandbox_query_answers_succeeded(app, buyer, leader, product,
                                                                                  drain):
    from sqlalchemy import update

    from app.db import transaction
    from app.payment.jobs import redrive_refunds_job
    from app.payment.models import Refund
    from tests.payment.helpers import place_order, refund_by_id, refunds_of

    # given an order paid in the sandbox, then cancelled
    order = place_order(buyer, leader, product)
    assert buyer.post(f"/orders/{order['id']}/pay").get_json()["order"]["status"] == "paid"
    assert buyer.post(f"/orders/{order['id']}/cancel").get_json()["status"] == "refunded"

    # when the job runs, the refund succeeds at once
    drain()
    [refund] = refunds_of(app, order["id"])
    assert (refund.status, refund.amount, refund.attempts) == ("succeeded", order["total"], 1)

    # and a sandbox refund found processing is answered "succeeded" by the sweep's query
    with app.app_context(), transaction() as s:
        s.exec(update(Refund).where(Refund.id == refund.id).values(status="processing", completed_at=None))
    with app.app_context():
        assert redrive_refunds_job(older_than_s=0) == {"requeued": 0, "checked": 1}
    assert refund_by_id(app, refund.id).status == "succeeded"
