"""Small builders and readers shared by the payment tests."""
from __future__ import annotations

from sqlmodel import Session, select

from app.order.models import Order
from app.payment.models import Payment, Refund
from app.payment.providers import out_trade_no

NOTIFY = "/api/v1/payments/wechatpay/notify"


def place_order(buyer, leader, product, qty=2) -> dict:
    _, point = leader
    r = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": qty}],
                                    "pickup_point_id": point["pickup_point_id"]})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def notify(client, headers: dict, body: str):
    return client.post(NOTIFY, data=body.encode("utf-8"), headers=headers)


def paid_notification(wechatpay, order: dict, **kw):
    kw.setdefault("amount", order["total"])
    return wechatpay.notification(out_trade_no=out_trade_no(order["id"]), **kw)


def payments_of(app, order_id: int) -> list[Payment]:
    with Session(app.extensions["linli.engine"]) as s:
        return list(s.exec(select(Payment).where(Payment.order_id == order_id)))


def refunds_of(app, order_id: int) -> list[Refund]:
    with Session(app.extensions["linli.engine"]) as s:
        return list(s.exec(select(Refund).where(Refund.order_id == order_id).order_by(Refund.id)))


def refund_by_id(app, refund_id: int) -> Refund:
    with Session(app.extensions["linli.engine"]) as s:
        return s.get(Refund, refund_id)


def payment_by_id(app, payment_id: int) -> Payment:
    with Session(app.extensions["linli.engine"]) as s:
        return s.get(Payment, payment_id)


def order_status(app, order_id: int) -> str:
    with Session(app.extensions["linli.engine"]) as s:
        return s.get(Order, order_id).status
