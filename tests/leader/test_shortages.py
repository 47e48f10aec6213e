"""Shortages (团长签收): units missing from a delivery are refunded across the day's orders at the
point, latest paid first, to the fen; the figure reported is a running total, so a report twice
refunds nothing twice and a higher figure refunds the difference; never past what was shipped;
commissions follow. The races use real threads against both databases (on SQLite writers take
turns, so there the race is a queue; PostgreSQL is the real test)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from app.commission import service as commission_service
from app.commission.models import Commission
from app.db import transaction, utcnow
from app.notify.models import Notification
from app.order import transitions as order_transitions
from app.order.models import Order
from app.payment.models import Payment, Refund
from tests.concurrency import run_together
from tests.conftest import login, make_leader, make_product

A_PRICE, B_PRICE = 1990, 1090


def paid_order(buyer, point_id: int, items: list[tuple[int, int]]) -> dict:
    r = buyer.post("/orders", json={"items": [{"sku_id": s, "qty": q} for s, q in items],
                                    "pickup_point_id": point_id})
    assert r.status_code == 201, r.get_json()
    r = buyer.post(f"/orders/{r.get_json()['id']}/pay")
    assert r.status_code == 200, r.get_json()
    return r.get_json()["order"]


def ship(app, day: str) -> list[int]:
    with app.app_context(), transaction() as s:
        return order_transitions.ship_paid_orders(s, delivery_date=date.fromisoformat(day))


def refunds_of(app, order_id: int) -> list[int]:
    with Session(app.extensions["linli.engine"]) as s:
        return [r.amount for r in s.exec(select(Refund).where(Refund.order_id == order_id).order_by(Refund.id))]


def refunded_by_payment(app, order_id: int) -> int:
    with Session(app.extensions["linli.engine"]) as s:
        return s.exec(select(Payment).where(Payment.order_id == order_id)).one().refunded_amount


def status_of(app, order_id: int) -> str:
    with Session(app.extensions["linli.engine"]) as s:
        return s.get(Order, order_id).status


@pytest.fixture
def day_at_point(app, client, admin, leader):
    """Three buyers' orders at one point, paid one after the other, shipped and arrived:
    first A×2 + B×1, then A×1, last A×3 + B×2 (A 19.90, B 10.90)."""
    leader_api, point = leader
    product = make_product(admin, skus=(("一个装", A_PRICE, 100), ("半个装", B_PRICE, 100)))
    a, b = (s["id"] for s in product["skus"])
    pid = point["pickup_point_id"]
    buyers = [login(client, f"sh-{i}", nickname=f"邻居{i}") for i in range(3)]
    first = paid_order(buyers[0], pid, [(a, 2), (b, 1)])
    second = paid_order(buyers[1], pid, [(a, 1)])
    last = paid_order(buyers[2], pid, [(a, 3), (b, 2)])
    day = first["delivery_date"]
    # paid_at a second apart, whatever the clock's resolution
    base = utcnow()
    with app.app_context(), transaction() as s:
        for i, o in enumerate((first, second, last)):
            s.exec(update(Order).where(Order.id == o["id"]).values(paid_at=base + timedelta(seconds=i)))
    assert sorted(ship(app, day)) == sorted(o["id"] for o in (first, second, last))
    assert leader_api.post(f"/leader/deliveries/{day}/receive").get_json() == {"arrived": 3}
    return {"leader": leader_api, "point": point, "day": day, "a": a, "b": b, "buyers": buyers,
            "first": first, "second": second, "last": last}


def report(leader_api, day: str, lines: dict[int, int]):
    return leader_api.post(f"/leader/deliveries/{day}/shortages",
                           json={"lines": [{"sku_id": k, "missing_qty": v} for k, v in lines.items()]})


def amounts(r) -> dict[int, int]:
    assert r.status_code == 200, r.get_json()
    return {x["order_id"]: x["amount"] for x in r.get_json()["refunds"]}


def test_missing_units_are_refunded_to_the_fen_latest_paid_orders_first(app, day_at_point):
    d = day_at_point
    first, second, last = d["first"], d["second"], d["last"]

    r = report(d["leader"], d["day"], {d["a"]: 4, d["b"]: 1})

    # A: the last order gives its 3 units, the second its 1; B: the last order gives 1.
    assert amounts(r) == {last["id"]: 3 * A_PRICE + B_PRICE, second["id"]: A_PRICE}
    assert [x["order_id"] for x in r.get_json()["refunds"]] == [last["id"], second["id"]]
    assert refunds_of(app, last["id"]) == [3 * A_PRICE + B_PRICE]
    assert refunds_of(app, second["id"]) == [A_PRICE]  # refunded in full: no second refund from the hook
    assert refunds_of(app, first["id"]) == []
    assert refunded_by_payment(app, second["id"]) == A_PRICE
    assert status_of(app, second["id"]) == "refunded"
    assert status_of(app, last["id"]) == status_of(app, first["id"]) == "arrived"
    items = d["buyers"][2].get(f"/orders/{last['id']}").get_json()["items"]
    assert {(i["sku_id"], i["qty"], i["refunded_qty"]) for i in items} == {(d["a"], 3, 3), (d["b"], 2, 1)}

    # Each affected buyer is told, in words and in data.
    with app.app_context(), transaction() as s:
        notes = s.exec(select(Notification).where(Notification.event == "order.shortage")
                       .order_by(Notification.id)).all()
    assert [(n.user_id, n.data["id"], n.data["amount"]) for n in notes] == [
        (d["buyers"][2].user["id"], last["id"], 3 * A_PRICE + B_PRICE), (d["buyers"][1].user["id"], second["id"], A_PRICE)]
    assert notes[0].title == "商品缺货退款" and "¥70.60" in notes[0].body and "× 3" in notes[0].body

    # The day's summary counts what is still to hand out.
    s = d["leader"].get(f"/leader/summary?delivery_date={d['day']}").get_json()
    assert s["order_count"] == 2
    assert [(x["sku_id"], x["qty"]) for x in s["lines"]] == [(d["a"], 2), (d["b"], 2)]
    assert s["total"] == (2 * A_PRICE + B_PRICE) + B_PRICE


def test_reporting_the_same_shortage_twice_refunds_nothing_more(app, day_at_point):
    d = day_at_point
    assert amounts(report(d["leader"], d["day"], {d["a"]: 2})) == {d["last"]["id"]: 2 * A_PRICE}

    assert amounts(report(d["leader"], d["day"], {d["a"]: 2})) == {}
    assert amounts(report(d["leader"], d["day"], {d["a"]: 1})) == {}  # lower: nothing is taken back
    assert amounts(report(d["leader"], d["day"], {d["a"]: 0, d["b"]: 0})) == {}
    assert refunds_of(app, d["last"]["id"]) == [2 * A_PRICE]


def test_raising_the_figure_refunds_only_the_difference(app, day_at_point):
    d = day_at_point
    assert amounts(report(d["leader"], d["day"], {d["a"]: 2})) == {d["last"]["id"]: 2 * A_PRICE}

    # 5 in all: 3 more, the last order's third unit, then the second's, then the first's.
    r = report(d["leader"], d["day"], {d["a"]: 5})

    assert amounts(r) == {d["last"]["id"]: A_PRICE, d["second"]["id"]: A_PRICE, d["first"]["id"]: A_PRICE}
    assert refunds_of(app, d["last"]["id"]) == [2 * A_PRICE, A_PRICE]
    assert refunded_by_payment(app, d["last"]["id"]) == 3 * A_PRICE


def test_more_missing_than_was_shipped_is_refused_and_refunds_nothing(app, day_at_point):
    d = day_at_point
    r = report(d["leader"], d["day"], {d["a"]: 7, d["b"]: 1})  # 6 units of A were shipped

    assert r.status_code == 409 and r.get_json()["code"] == "shortage_exceeds_delivery"
    assert r.get_json()["lines"] == [{"sku_id": d["a"], "missing_qty": 7, "shipped_qty": 6}]
    for o in ("first", "second", "last"):
        assert refunds_of(app, d[o]["id"]) == []
    # nothing was recorded either: the next report of 6 refunds all six
    assert sum(amounts(report(d["leader"], d["day"], {d["a"]: 6})).values()) == 6 * A_PRICE
    # a SKU that was never shipped here, or does not exist, is refused the same way
    for sku in (make_product(login(app.test_client(), "admin", admin=True))["skus"][0]["id"], 987654):
        r = report(d["leader"], d["day"], {sku: 1})
        assert r.status_code == 409 and r.get_json()["code"] == "shortage_exceeds_delivery", r.get_json()


def test_units_already_handed_out_cannot_be_reported_missing(app, day_at_point):
    d = day_at_point
    r = d["leader"].post("/leader/pickups", json={"pickup_code": d["last"]["pickup_code"]})
    assert r.status_code == 200

    r = report(d["leader"], d["day"], {d["a"]: 4})  # 6 shipped, 3 handed out: 3 still at the point

    assert r.status_code == 409 and r.get_json()["code"] == "shortage_exceeds_delivery"
    assert r.get_json()["lines"][0]["not_at_point"] == 1
    assert refunds_of(app, d["second"]["id"]) == refunds_of(app, d["first"]["id"]) == []
    assert amounts(report(d["leader"], d["day"], {d["a"]: 3})) == {d["second"]["id"]: A_PRICE,
                                                                   d["first"]["id"]: 2 * A_PRICE}


def test_commission_after_pickup_is_on_what_the_order_kept(app, day_at_point):
    d = day_at_point
    first = d["first"]
    # A: 6 units, 3 + 1 from the later orders, then 1 of the first order's 2.
    amounts(report(d["leader"], d["day"], {d["a"]: 5}))

    r = d["leader"].post("/leader/pickups", json={"pickup_code": first["pickup_code"]})

    assert r.status_code == 200
    [entry] = [c for c in d["leader"].get("/leader/commissions").get_json()["items"] if c["order_id"] == first["id"]]
    kept = first["total"] - A_PRICE
    assert entry["amount"] == round(kept * 0.10) == 308
    # and an entry already accrued shrinks with a refund after it (settled or not)
    with app.app_context(), transaction() as s:
        assert commission_service.rebase(s, order_id=first["id"], base=kept - B_PRICE)
        assert not commission_service.rebase(s, order_id=first["id"], base=kept)  # only ever down
        assert s.exec(select(Commission.amount).where(Commission.order_id == first["id"])).one() == 199


def test_a_leader_reports_only_for_their_own_point(app, client, admin, day_at_point):
    d = day_at_point
    other_leader, _ = make_leader(client, admin, lat=30.30, lng=120.10)

    r = report(other_leader, d["day"], {d["a"]: 1})

    # Their point got none of it: the same answer as a SKU never shipped, and nothing of mine moves.
    assert r.status_code == 409 and r.get_json()["lines"][0]["shipped_qty"] == 0
    assert report(d["buyers"][0], d["day"], {d["a"]: 1}).status_code == 403
    for o in ("first", "second", "last"):
        assert refunds_of(app, d[o]["id"]) == []


@pytest.mark.parametrize("lines", [
    [{"sku_id": 1, "missing_qty": 1}, {"sku_id": 1, "missing_qty": 2}],
    [{"sku_id": 1, "missing_qty": -1}],
    [],
])
def test_a_malformed_report_is_a_validation_error(day_at_point, lines):
    d = day_at_point
    r = d["leader"].post(f"/leader/deliveries/{d['day']}/shortages", json={"lines": lines})
    assert r.status_code == 422 and r.get_json()["code"] == "validation_error"




def test_concurrent_identical_reports_refund_once(app, day_at_point):
    d = day_at_point
    url = f"/api/v1/leader/deliveries/{d['day']}/shortages"
    body = {"lines": [{"sku_id": d["a"], "missing_qty": 4}, {"sku_id": d["b"], "missing_qty": 2}]}

    results = run_together(8, lambda i: app.test_client().post(url, json=body, headers=d["leader"].headers))

    assert all(not isinstance(r, Exception) and r.status_code == 200 for r in results), results
    winners = [r.get_json()["refunds"] for r in results if r.get_json()["refunds"]]
    assert len(winners) == 1, [r.get_json() for r in results]
    total = sum(refunded_by_payment(app, d[o]["id"]) for o in ("first", "second", "last"))
    assert total == 4 * A_PRICE + 2 * B_PRICE


def test_concurrent_rising_reports_refund_the_highest_figure_exactly(app, day_at_point):
    d = day_at_point
    url = f"/api/v1/leader/deliveries/{d['day']}/shortages"

    results = run_together(6, lambda i: app.test_client().post(
        url, json={"lines": [{"sku_id": d["a"], "missing_qty": i + 1}]}, headers=d["leader"].headers))

    assert all(not isinstance(r, Exception) and r.status_code == 200 for r in results), results
    refunded = sum(x["amount"] for r in results for x in r.get_json()["refunds"])
    assert refunded == 6 * A_PRICE
    assert sum(refunded_by_payment(app, d[o]["id"]) for o in ("first", "second", "last")) == 6 * A_PRICE
    assert {status_of(app, d[o]["id"]) for o in ("second",)} == {"refunded"}
