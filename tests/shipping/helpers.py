"""Builders for the shipping tests: orders paid through WeChat Pay (the payment recorded through
confirm_payment, the path a verified notification takes, and filed with the fake WeChat's
shipping management), shipped by the nightly path and received at their point."""
from __future__ import annotations

from datetime import date

from rq import Queue, SimpleWorker
from rq.scheduler import RQScheduler
from sqlmodel import select

from app.db import reading, transaction, utcnow
from app.order import transitions as order_transitions
from app.payment import service as payment_service
from app.payment.providers import PaymentEvent, out_trade_no
from app.shipping.models import ShippingPush, ShippingSync

TOKEN = "linli-push-token"
MCHID = "1900000109"


def paid_order(app, buyer, leader, product, wechat_api, *, qty: int = 2, txn: str | None = None,
               openid: str = "buyer-1") -> dict:
    """An order of `buyer` paid through WeChat Pay, filed with the fake as WeChat would."""
    _, approved = leader
    r = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": qty}],
                                    "pickup_point_id": approved["pickup_point_id"]})
    assert r.status_code == 201, r.get_json()
    order = r.get_json()
    txn = txn or f"42000{order['id']:023d}"
    with app.app_context(), transaction() as s:
        payment_service.confirm_payment(s, provider_name="wechatpay", event=PaymentEvent(
            out_trade_no=out_trade_no(order["id"]), transaction_id=txn, amount=order["total"], paid_at=utcnow(),
            raw={"mchid": MCHID, "transaction_id": txn, "payer": {"openid": openid}}))
    wechat_api.add_payment(transaction_id=txn, mchid=MCHID, out_trade_no=out_trade_no(order["id"]), openid=openid,
                           amount=order["total"])
    order = buyer.get(f"/orders/{order['id']}").get_json()
    assert order["status"] == "paid", order
    return dict(order, transaction_id=txn, openid=openid)


def ship(app, day: str) -> None:
    with app.app_context(), transaction() as s:
        order_transitions.ship_for_delivery(s, delivery_date=date.fromisoformat(day), now=utcnow())


def receive(leader, day: str) -> int:
    leader_api, _ = leader
    r = leader_api.post(f"/leader/deliveries/{day}/receive")
    assert r.status_code == 200, r.get_json()
    return r.get_json()["arrived"]


def sync_of(app, order_id: int) -> ShippingSync | None:
    with app.app_context(), reading() as s:
        return s.exec(select(ShippingSync).where(ShippingSync.order_id == order_id)).first()


def pushes(app) -> list[ShippingPush]:
    with app.app_context(), reading() as s:
        return list(s.exec(select(ShippingPush).order_by(ShippingPush.id)))


class _Worker(SimpleWorker):
    """conftest's drain without the worker's pubsub thread: stopping that thread takes 60 s on its
    first use in a process here (rq 3.0, redis-py 8.2), which the command channel is not worth."""

    def subscribe(self):
        self.pubsub_thread = None

    def unsubscribe(self):
        pass


def run_jobs(app, rounds: int = 8) -> int:
    """Run due jobs (delayed ones included once due) with a real RQ worker until none is left."""
    conn = app.extensions["linli.redis"]
    queue = Queue(app.extensions["linli.settings"].queue_name, connection=conn)
    total = 0
    for _ in range(rounds):
        scheduler = RQScheduler([queue], connection=conn)
        scheduler.acquire_locks()
        scheduler.enqueue_scheduled_jobs()
        scheduler.release_locks()
        count = len(queue)
        if not count:
            break
        total += count
        with app.app_context():
            _Worker([queue], connection=conn).work(burst=True, logging_level="WARNING")
    return total
