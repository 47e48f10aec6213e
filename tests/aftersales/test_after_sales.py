"""After-sales (售后): per item, decided by the leader first within LINLI_LEADER_AFTER_SALE_LIMIT,
escalated by the buyer, by the leader's approval above the limit or by the SLA; approved means
refunded through the one unit-refund path, never more than was paid, whatever races (real
threads on both databases; PostgreSQL is the real test)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from app.aftersales import flows
from app.aftersales.models import AfterSale
from app.db import transaction, utcnow
from app.notify.models import Notification
from app.order.models import Order, OrderItem
from app.payment.models import Payment, Refund
from tests.concurrency import run_together
from tests.conftest import login, make_leader, make_product
from tests.leader.test_shortages import (A_PRICE, B_PRICE, day_at_point, paid_order, refunds_of, report,  # noqa: F401
                                         status_of)


def ask(buyer, order_id: int, items: dict[int, int], reason="商品损坏", **extra):
    return buyer.post(f"/orders/{order_id}/after-sales",
                      json={"items": [{"sku_id": k, "qty": v} for k, v in items.items()], "reason": reason, **extra})


def paid_and_refunded(app, order_id: int) -> tuple[int, int, int]:
    """(paid, refunded by the payment's count, sum of refund rows)."""
    with Session(app.extensions["linli.engine"]) as s:
        p = s.exec(select(Payment).where(Payment.order_id == order_id)).one()
        rows = sum(r.amount for r in s.exec(select(Refund).where(Refund.order_id == order_id)))
        return p.amount, p.refunded_amount, rows


def items_left(app, order_id: int) -> dict[int, tuple[int, int]]:
    with Session(app.extensions["linli.engine"]) as s:
        return {i.sku_id: (i.qty, i.refunded_qty) for i in s.exec(select(OrderItem).where(OrderItem.order_id == order_id))}


def test_the_leader_approves_and_the_units_are_refunded_with_every_step_logged(app, day_at_point):
    d = day_at_point
    buyer, last = d["buyers"][2], d["last"]
    r = ask(buyer, last["id"], {d["a"]: 1}, description="摔坏了一个", images=["https://img.example.com/1.jpg"])
    assert r.status_code == 201, r.get_json()
    a = r.get_json()
    assert (a["status"], a["amount"], a["order_id"], a["images"]) == ("requested", A_PRICE, last["id"],
                                                                       ["https://img.example.com/1.jpg"])
    assert [e["action"] for e in a["log"]] == ["requested"]
    # One open request per order.
    assert ask(buyer, last["id"], {d["b"]: 1}).get_json()["code"] == "after_sale_open"

    queue = d["leader"].get("/leader/after-sales?status=requested").get_json()["items"]
    assert [x["id"] for x in queue] == [a["id"]]
    r = d["leader"].post(f"/leader/after-sales/{a['id']}/approve", json={"note": "看过了，确实坏了"})
    assert r.status_code == 200, r.get_json()
    done = r.get_json()
    assert (done["status"], done["refunded_amount"], done["decided_by"]) == ("refunded", A_PRICE, "leader")
    assert [(e["action"], e["actor"].split(":")[0]) for e in done["log"]] == [
        ("requested", "buyer"), ("approved", "leader"), ("refunded", "system")]
    assert done["log"][1]["note"] == "看过了，确实坏了"
    assert refunds_of(app, last["id"]) == [A_PRICE]
    assert items_left(app, last["id"])[d["a"]] == (3, 1)
    assert status_of(app, last["id"]) == "arrived"
    # Decided once: a second approval is refused and refunds nothing.
    assert d["leader"].post(f"/leader/after-sales/{a['id']}/approve").status_code == 409
    assert refunds_of(app, last["id"]) == [A_PRICE]
    # The buyer heard of each step; they see it in their list and by id.
    with Session(app.extensions["linli.engine"]) as s:
        events = [n.event for n in s.exec(select(Notification).where(Notification.user_id == buyer.user["id"],
                                                                     Notification.event.like("after_sale.%"))
                                          .order_by(Notification.id))]
    assert events == ["after_sale.requested", "after_sale.approved", "after_sale.refunded"]
    assert [x["id"] for x in buyer.get("/me/after-sales").get_json()["items"]] == [a["id"]]
    assert buyer.get(f"/after-sales/{a['id']}").get_json()["status"] == "refunded"
    # A new request may follow once the first is done, for what is left.
    assert ask(buyer, last["id"], {d["a"]: 2}).status_code == 201


def test_the_amount_leaves_out_what_a_shortage_already_refunded(app, day_at_point):
    d = day_at_point
    buyer, last = d["buyers"][2], d["last"]
    assert report(d["leader"], d["day"], {d["a"]: 1}).status_code == 200  # one A of the last order
    r = ask(buyer, last["id"], {d["a"]: 3})
    assert (r.status_code, r.get_json()["code"]) == (422, "after_sale_items_invalid")
    r = ask(buyer, last["id"], {d["a"]: 2, d["b"]: 1})
    assert r.status_code == 201 and r.get_json()["amount"] == 2 * A_PRICE + B_PRICE


def test_above_the_leaders_limit_approval_escalates_and_the_operator_decides(app, admin, day_at_point):
    d = day_at_point
    buyer, last = d["buyers"][2], d["last"]
    a = ask(buyer, last["id"], {d["a"]: 3, d["b"]: 1}).get_json()  # 70.60 > 50.00
    assert a["amount"] == 3 * A_PRICE + B_PRICE
    r = d["leader"].post(f"/leader/after-sales/{a['id']}/approve", json={"note": "金额大，请平台处理"})
    assert r.get_json()["status"] == "escalated"
    assert refunds_of(app, last["id"]) == []
    assert [x["id"] for x in admin.get("/admin/after-sales?status=escalated").get_json()["items"]] == [a["id"]]
    r = admin.post(f"/admin/after-sales/{a['id']}/approve", json={"note": "同意"})
    assert r.status_code == 200 and r.get_json()["status"] == "refunded"
    assert r.get_json()["decided_by"] == "operator"
    assert refunds_of(app, last["id"]) == [3 * A_PRICE + B_PRICE]


def test_a_rejected_buyer_escalates_once_and_the_operators_rejection_is_final(app, admin, day_at_point):
    d = day_at_point
    buyer, first = d["buyers"][0], d["first"]
    a = ask(buyer, first["id"], {d["b"]: 1}, reason="其他").get_json()
    assert d["leader"].post(f"/leader/after-sales/{a['id']}/reject", json={"note": "已当面确认完好"}) \
        .get_json()["status"] == "rejected"
    assert d["buyers"][1].post(f"/after-sales/{a['id']}/escalate").status_code == 404  # not theirs
    assert buyer.post(f"/after-sales/{a['id']}/escalate").get_json()["status"] == "escalated"
    r = admin.post(f"/admin/after-sales/{a['id']}/reject", json={"note": "不符合售后条件"})
    assert r.get_json()["status"] == "rejected"
    assert buyer.post(f"/after-sales/{a['id']}/escalate").status_code == 409
    assert [e["action"] for e in r.get_json()["log"]] == ["requested", "rejected", "escalated", "rejected"]
    assert refunds_of(app, first["id"]) == []


def test_the_window_reasons_and_who_sees_a_request(app, client, admin, day_at_point):
    d = day_at_point
    buyer, first = d["buyers"][0], d["first"]
    r = ask(buyer, first["id"], {d["a"]: 1}, reason="不想要了")
    assert (r.status_code, r.get_json()["code"]) == (422, "unknown_after_sale_reason")
    assert ask(buyer, first["id"], {d["a"]: 1}, images=["http://x.example.com/a.jpg"]).status_code == 422
    assert ask(d["buyers"][1], first["id"], {d["a"]: 1}).status_code == 404  # another buyer's order
    a = ask(buyer, first["id"], {d["a"]: 1}).get_json()
    other_leader, _ = make_leader(client, admin, lat=31.2, lng=121.4)
    assert other_leader.get(f"/after-sales/{a['id']}").status_code == 404
    assert other_leader.post(f"/leader/after-sales/{a['id']}/approve").status_code == 404
    assert other_leader.get("/leader/after-sales").get_json()["items"] == []
    assert d["buyers"][1].get(f"/after-sales/{a['id']}").status_code == 404
    assert d["leader"].get(f"/after-sales/{a['id']}").status_code == 200
    assert admin.get(f"/after-sales/{a['id']}").status_code == 200
    # Past LINLI_AFTER_SALE_WINDOW_H (48) after arrival the window is closed.
    with app.app_context(), transaction() as s:
        s.exec(update(Order).where(Order.id == d["second"]["id"]).values(arrived_at=utcnow() - timedelta(hours=49)))
    r = ask(d["buyers"][1], d["second"]["id"], {d["a"]: 1})
    assert (r.status_code, r.get_json()["code"]) == (409, "after_sale_window_closed")


def test_a_request_the_leader_lets_sit_past_the_sla_escalates_by_itself(app, day_at_point):
    d = day_at_point
    a = ask(d["buyers"][0], d["first"]["id"], {d["a"]: 1}).get_json()
    fresh = ask(d["buyers"][1], d["second"]["id"], {d["a"]: 1}).get_json()
    with app.app_context():
        with transaction() as s:
            s.exec(update(AfterSale).where(AfterSale.id == a["id"]).values(created_at=utcnow() - timedelta(hours=25)))
        assert flows.escalate_overdue() == 1
        assert flows.escalate_overdue() == 0
    got = d["buyers"][0].get(f"/after-sales/{a['id']}").get_json()
    assert got["status"] == "escalated" and got["log"][-1]["actor"] == "system"
    assert d["buyers"][1].get(f"/after-sales/{fresh['id']}").get_json()["status"] == "requested"


def test_an_operator_refunds_an_order_by_line(app, admin, day_at_point):
    d = day_at_point
    last = d["last"]
    r = admin.post(f"/admin/orders/{last['id']}/refund", json={"lines": [{"sku_id": d["b"], "qty": 1}]})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "arrived"
    assert refunds_of(app, last["id"]) == [B_PRICE]
    r = admin.post(f"/admin/orders/{last['id']}/refund", json={"lines": [{"sku_id": d["b"], "qty": 2}]})
    assert (r.status_code, r.get_json()["code"]) == (409, "units_already_refunded")
    assert admin.post(f"/admin/orders/{last['id']}/refund", json={"refund_amount": 7580}).status_code == 422
    # The rest, by line: nothing left, so the order is refunded and nothing more than paid went back.
    r = admin.post(f"/admin/orders/{last['id']}/refund",
                   json={"lines": [{"sku_id": d["a"], "qty": 3}, {"sku_id": d["b"], "qty": 1}]})
    assert r.get_json()["status"] == "refunded"
    paid, counted, rows = paid_and_refunded(app, last["id"])
    assert paid == counted == rows == 3 * A_PRICE + 2 * B_PRICE


def test_two_approvals_at_once_refund_once(app, admin, day_at_point):
    d = day_at_point
    a = ask(d["buyers"][2], d["last"]["id"], {d["a"]: 2}).get_json()
    url = f"/api/v1/leader/after-sales/{a['id']}/approve"
    results = run_together(6, lambda i: app.test_client().post(
        url if i % 2 else f"/api/v1/admin/after-sales/{a['id']}/approve", json={},
        headers=(d["leader"] if i % 2 else admin).headers))
    assert sorted(r.status_code for r in results) == [200] + [409] * 5, [r.get_json() for r in results]
    assert refunds_of(app, d["last"]["id"]) == [2 * A_PRICE]
    assert items_left(app, d["last"]["id"])[d["a"]] == (3, 2)  # the units counted once, too


def test_approvals_racing_a_shortage_and_an_operator_never_refund_more_than_was_paid(app, admin, day_at_point):
    """The last order holds A×3 + B×2. At once: the leader approves a request for 2 of its A, the
    operator refunds 2 of its A by line, and the leader reports 4 A missing (its 3 among them). Each
    unit goes back once: never more than was paid, and the refund rows match the units counted."""
    d = day_at_point
    last = d["last"]
    a = ask(d["buyers"][2], last["id"], {d["a"]: 2}).get_json()

    def one(i):
        c = app.test_client()
        if i == 0:
            return c.post(f"/api/v1/leader/after-sales/{a['id']}/approve", json={}, headers=d["leader"].headers)
        if i == 1:
            return c.post(f"/api/v1/admin/orders/{last['id']}/refund",
                          json={"lines": [{"sku_id": d["a"], "qty": 2}]}, headers=admin.headers)
        return c.post(f"/api/v1/leader/deliveries/{d['day']}/shortages",
                      json={"lines": [{"sku_id": d["a"], "missing_qty": 4}]}, headers=d["leader"].headers)

    results = run_together(3, one)
    assert all(r.status_code in (200, 409) for r in results), [r.get_json() for r in results]
    assert results[0].status_code == 200 and results[0].get_json()["status"] == "refunded"
    paid, counted, rows = paid_and_refunded(app, last["id"])
    qty, refunded_a = items_left(app, last["id"])[d["a"]]
    assert qty == 3 and refunded_a <= 3
    assert counted == rows == refunded_a * A_PRICE <= paid
    got = d["buyers"][2].get(f"/after-sales/{a['id']}").get_json()
    assert got["refunded_amount"] == sum(i["refunded_qty"] * i["unit_price"] for i in got["items"])
    # Whatever came first, the three together gave back no unit twice.
    shortage = results[2].get_json().get("refunds", []) if results[2].status_code == 200 else []
    operator = 2 if results[1].status_code == 200 else 0
    from_shortage = sum(x["amount"] for x in shortage if x["order_id"] == last["id"]) // A_PRICE
    assert from_shortage + operator + sum(i["refunded_qty"] for i in got["items"]) == refunded_a


def test_units_an_operator_refunds_before_the_build_are_not_shipped(app, client, admin, leader):
    leader_api, point = leader
    product = make_product(admin, skus=(("一个装", A_PRICE, 100), ("半个装", B_PRICE, 100)))
    a, b = (s["id"] for s in product["skus"])
    buyer = login(client, "before-build")
    order = paid_order(buyer, point["pickup_point_id"], [(a, 3), (b, 1)])
    r = admin.post(f"/admin/orders/{order['id']}/refund", json={"lines": [{"sku_id": a, "qty": 2}, {"sku_id": b, "qty": 1}]})
    assert r.status_code == 200 and r.get_json()["status"] == "paid"
    assert refunds_of(app, order["id"]) == [2 * A_PRICE + B_PRICE]
    day = order["delivery_date"]
    assert admin.post(f"/admin/manifests/{day}/build").status_code == 200
    m = leader_api.get(f"/leader/manifests/{day}").get_json()
    assert [(x["sku_id"], x["qty"]) for x in m["receiving"]] == [(a, 1)]
    assert [(i["sku_id"], i["qty"], i["refunded"]) for i in m["pickups"][0]["items"]] == [(a, 1, True), (b, 0, True)]
