"""Coupons end to end on both databases: templates, claiming and its limits, using one on an order
(after the member discount, before points), getting it back when the order is cancelled or
refunded in full, the refund and commission figures with a coupon, and the operator's view."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import select

from app.db import transaction
from app.order import placing, transitions
from app.order.models import Order
from app.payment.models import Refund
from tests.conftest import Api, login, make_product

PRICE = 1990  # the product fixture's SKU


def window(**delta) -> dict:
    now = datetime.now(timezone.utc)
    return {"valid_from": (now - timedelta(hours=1)).isoformat(),
            "valid_to": (now + timedelta(**(delta or {"days": 30}))).isoformat()}


def make_template(admin: Api, **over) -> dict:
    body = {"name": "满10减5", "kind": "fixed", "value": 500, "min_spend": 1000, "total": 100,
            "per_user_limit": 1, **window()}
    body.update(over)
    r = admin.post("/admin/coupon-templates", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def claim(buyer: Api, template_id: int) -> dict:
    r = buyer.post(f"/coupon-templates/{template_id}/claim")
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def order(buyer: Api, point_id: int, sku_id: int, qty: int = 1, **extra):
    return buyer.post("/orders", json={"items": [{"sku_id": sku_id, "qty": qty}], "pickup_point_id": point_id,
                                       **extra})


def my_statuses(buyer: Api) -> dict[int, str]:
    return {c["id"]: c["status"] for c in buyer.get("/me/coupons").get_json()["items"]}


@pytest.fixture
def shop(leader, product):
    _, point = leader
    return point["pickup_point_id"], product["skus"][0]["id"]


def test_a_claimed_fixed_coupon_comes_off_the_order_and_is_then_used(admin, buyer, shop):
    point, sku = shop
    t = make_template(admin)
    coupon = claim(buyer, t["id"])
    assert coupon["status"] == "unused" and coupon["template"]["id"] == t["id"]
    assert coupon["expires_at"][:10] == t["valid_to"][:10]

    r = order(buyer, point, sku, coupon_id=coupon["id"])

    assert r.status_code == 201, r.get_json()
    o = r.get_json()
    assert (o["coupon_id"], o["coupon_discount"], o["total"]) == (coupon["id"], 500, PRICE - 500)
    assert my_statuses(buyer) == {coupon["id"]: "used"}
    again = order(buyer, point, sku, coupon_id=coupon["id"])
    assert again.status_code == 409 and again.get_json()["code"] == "coupon_used"
    paid = buyer.post(f"/orders/{o['id']}/pay").get_json()["order"]
    assert paid["status"] == "paid" and paid["total"] == PRICE - 500


def test_percent_coupons_are_capped_and_points_come_after_the_coupon(admin, buyer, shop, app):
    point, sku = shop
    t = make_template(admin, kind="percent", value=20, max_discount=300, min_spend=0)
    c = claim(buyer, t["id"])
    o = order(buyer, point, sku, coupon_id=c["id"]).get_json()
    assert o["coupon_discount"] == 300  # 20% of 1990 is 398, capped at 300

    t2 = make_template(admin, kind="percent", value=10, min_spend=0)
    c2 = claim(buyer, t2["id"])
    # points: at most half of what is left after the coupon (1990 - 199 = 1791 → 895)
    with app.app_context(), transaction() as s:
        from app.points import service as points_service
        points_service.credit(s, user_id=buyer.user["id"], amount=5000, reason="gift", order_id=None)
    over = order(buyer, point, sku, coupon_id=c2["id"], points_to_use=896)
    assert over.status_code == 422 and over.get_json()["code"] == "points_over_limit"
    o2 = order(buyer, point, sku, coupon_id=c2["id"], points_to_use=895).get_json()
    assert (o2["coupon_discount"], o2["points_used"], o2["total"]) == (199, 895, 1990 - 199 - 895)


def test_min_spend_scope_and_the_one_fen_floor(admin, buyer, shop, client):
    point, sku = shop
    other = make_product(admin, name="土鸡蛋", skus=(("10枚", 1500, 100),))
    egg = other["skus"][0]["id"]
    scoped = make_template(admin, name="鸡蛋券", value=300, min_spend=2000, product_ids=[other["id"]])
    c = claim(buyer, scoped["id"])
    r = order(buyer, point, sku, qty=3, coupon_id=c["id"])  # no egg in it
    assert r.status_code == 422 and r.get_json()["code"] == "coupon_not_applicable"
    r = order(buyer, point, egg, qty=1, coupon_id=c["id"])  # 1500 of eggs < 2000
    assert r.status_code == 422 and r.get_json()["code"] == "coupon_min_spend_not_met"
    r = order(buyer, point, egg, qty=2, coupon_id=c["id"])
    assert r.status_code == 201 and r.get_json()["coupon_discount"] == 300
    big = make_template(admin, name="大额券", value=100_000, min_spend=0)
    c2 = claim(buyer, big["id"])
    o = order(buyer, point, sku, coupon_id=c2["id"]).get_json()
    assert (o["coupon_discount"], o["total"]) == (PRICE - 1, 1)  # WeChat Pay takes no 0-fen payment
    someone = login(client, "someone-else")
    r = order(someone, point, sku, coupon_id=c2["id"])
    assert r.status_code == 404 and r.get_json()["code"] == "coupon_not_found"


def test_claiming_stops_at_the_per_user_limit_and_at_the_total(admin, buyer, client):
    t = make_template(admin, total=3, per_user_limit=2)
    claim(buyer, t["id"])
    claim(buyer, t["id"])
    r = buyer.post(f"/coupon-templates/{t['id']}/claim")
    assert r.status_code == 409 and r.get_json()["code"] == "claim_limit_reached"
    listed = {x["id"]: x["left"] for x in buyer.get("/coupon-templates").get_json()["items"]}
    assert listed[t["id"]] == 1
    claim(login(client, "second"), t["id"])
    r = login(client, "third").post(f"/coupon-templates/{t['id']}/claim")
    assert r.status_code == 409 and r.get_json()["code"] == "coupons_gone"
    assert t["id"] not in {x["id"] for x in buyer.get("/coupon-templates").get_json()["items"]}


def test_leaders_only_and_closed_templates_are_not_claimable(admin, buyer):
    private = make_template(admin, claimable=False)
    r = buyer.post(f"/coupon-templates/{private['id']}/claim")
    assert r.status_code == 409 and r.get_json()["code"] == "coupon_not_claimable"
    now = datetime.now(timezone.utc)
    later = make_template(admin, valid_from=(now + timedelta(days=1)).isoformat(),
                          valid_to=(now + timedelta(days=2)).isoformat())
    assert buyer.post(f"/coupon-templates/{later['id']}/claim").get_json()["code"] == "coupon_not_claimable"
    listed = {x["id"] for x in buyer.get("/coupon-templates").get_json()["items"]}
    assert private["id"] not in listed and later["id"] not in listed
    assert buyer.post("/coupon-templates/999999/claim").get_json()["code"] == "coupon_template_not_found"


@pytest.mark.parametrize("bad", [{"kind": "percent", "value": 100}, {"valid_to": "2020-01-01T00:00:00+00:00"},
                                 {"value": 0}, {"per_user_limit": 0}, {"product_ids": [999999]},
                                 {"kind": "fixed", "max_discount": 10}, {"valid_from": "2026-01-01T00:00:00"}])
def test_templates_that_make_no_sense_are_refused(admin, bad):
    body = {"name": "坏券", "kind": "fixed", "value": 500, "min_spend": 0, "total": 10, "per_user_limit": 1,
            **window(), **bad}
    r = admin.post("/admin/coupon-templates", json=body)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["code"] in ("validation_error", "invalid_coupon_template")


def test_the_coupon_comes_back_when_its_order_is_cancelled_unpaid_or_refunded_in_full(admin, buyer, shop, app):
    point, sku = shop
    t = make_template(admin)
    c = claim(buyer, t["id"])
    first = order(buyer, point, sku, coupon_id=c["id"]).get_json()
    assert buyer.post(f"/orders/{first['id']}/cancel").get_json()["status"] == "cancelled"
    assert my_statuses(buyer) == {c["id"]: "unused"}

    second = order(buyer, point, sku, coupon_id=c["id"]).get_json()
    buyer.post(f"/orders/{second['id']}/pay")
    refunded = buyer.post(f"/orders/{second['id']}/cancel").get_json()
    assert refunded["status"] == "refunded"
    assert my_statuses(buyer) == {c["id"]: "unused"}
    with app.app_context(), transaction() as s:  # what was paid goes back, not the coupon's part
        assert [r.amount for r in s.exec(select(Refund).where(Refund.order_id == second["id"]))] == [PRICE - 500]
    third = order(buyer, point, sku, coupon_id=c["id"])
    assert third.status_code == 201


def test_a_coupon_past_its_expiry_when_its_order_ends_stays_spent_as_expired(admin, buyer, shop, clock):
    point, sku = shop
    t = make_template(admin, valid_days=1)
    c = claim(buyer, t["id"])
    o = order(buyer, point, sku, coupon_id=c["id"]).get_json()
    clock.advance(2 * 86400)
    assert buyer.post(f"/orders/{o['id']}/cancel").get_json()["status"] == "cancelled"
    assert my_statuses(buyer) == {c["id"]: "expired"}
    assert [x["id"] for x in buyer.get("/me/coupons", query_string={"status": "expired"}).get_json()["items"]] \
        == [c["id"]]
    assert buyer.get("/me/coupons", query_string={"status": "unused"}).get_json()["items"] == []


def test_an_unused_coupon_past_its_expiry_cannot_be_used(admin, buyer, shop, clock):
    point, sku = shop
    c = claim(buyer, make_template(admin, valid_days=1)["id"])
    clock.advance(86400 + 60)
    r = order(buyer, point, sku, coupon_id=c["id"])
    assert r.status_code == 409 and r.get_json()["code"] == "coupon_expired"
    assert my_statuses(buyer) == {c["id"]: "expired"}


def test_coupons_never_go_on_campaign_orders(admin, buyer, shop, app):
    point, sku = shop
    c = claim(buyer, make_template(admin)["id"])
    from app.coupons.errors import CouponNotApplicable
    with app.app_context(), transaction() as s:
        for source in ("flash_sale", "group", "bargain"):
            with pytest.raises(CouponNotApplicable):
                with s.begin_nested():
                    placing.place_order(s, settings=app.extensions["linli.settings"], buyer_id=buyer.user["id"],
                                        lines=[placing.Line(sku, 1, 900)], pickup_point_id=point, source=source,
                                        source_ref=f"x-{source}", coupon_id=c["id"])
    assert my_statuses(buyer) == {c["id"]: "unused"}


def test_a_shortage_refund_splits_the_coupon_in_proportion_and_commission_is_on_what_goods_sold_for(
        app, admin, buyer, leader, shop):
    leader_api, _ = leader
    point, sku = shop
    c = claim(buyer, make_template(admin, value=1000, min_spend=0)["id"])
    o = order(buyer, point, sku, qty=2, coupon_id=c["id"]).get_json()
    assert o["total"] == 2 * PRICE - 1000
    o = buyer.post(f"/orders/{o['id']}/pay").get_json()["order"]
    with app.app_context(), transaction() as s:
        transitions.ship_paid_orders(s, delivery_date=date.fromisoformat(o["delivery_date"]))
    leader_api.post(f"/leader/deliveries/{o['delivery_date']}/receive")
    r = leader_api.post(f"/leader/deliveries/{o['delivery_date']}/shortages",
                        json={"lines": [{"sku_id": sku, "missing_qty": 1}]})
    assert r.status_code == 200, r.get_json()
    # one of two units: half of what was paid (1990 × 2980 / 3980), not its full price
    assert [x["amount"] for x in r.get_json()["refunds"]] == [1990 * 2980 // 3980] == [1490]
    assert leader_api.post("/leader/pickups", json={"pickup_code": o["pickup_code"]}).status_code == 200
    [entry] = [x for x in leader_api.get("/leader/commissions").get_json()["items"] if x["order_id"] == o["id"]]
    # commission on what the kept unit sold for: 1990 less its half of the 1000 off
    assert entry["amount"] == round(1490 * 0.10) == 149
    assert my_statuses(buyer) == {c["id"]: "used"}  # a partial refund keeps the coupon spent


def test_the_operator_sees_issued_used_expired_orders_and_quotas(admin, buyer, shop, client, leader):
    point, sku = shop
    _, approved = leader
    t = make_template(admin, total=10, per_user_limit=2)
    c1, c2 = claim(buyer, t["id"]), claim(buyer, t["id"])
    o = order(buyer, point, sku, coupon_id=c1["id"]).get_json()
    cancelled = order(buyer, point, sku, coupon_id=c2["id"]).get_json()
    buyer.post(f"/orders/{cancelled['id']}/cancel")
    assert admin.post(f"/admin/coupon-templates/{t['id']}/leader-quotas",
                      json={"leader_id": approved["leader_id"], "quota": 4}).status_code == 200

    stats = admin.get(f"/admin/coupon-templates/{t['id']}").get_json()

    assert (stats["issued"], stats["left"], stats["unused"], stats["used"], stats["expired"]) == (2, 8, 1, 1, 0)
    assert (stats["orders"], stats["discount_total"]) == (1, 500)
    assert [x["id"] for x in stats["recent_orders"]] == [cancelled["id"], o["id"]]
    assert stats["leaders"] == [{"template_id": t["id"], "leader_id": approved["leader_id"], "quota": 4,
                                 "granted": 0, "quota_left": 4, "updated_at": stats["leaders"][0]["updated_at"]}]
    assert admin.get("/admin/coupon-templates/999999").get_json()["code"] == "coupon_template_not_found"
    assert t["id"] in {x["id"] for x in admin.get("/admin/coupon-templates").get_json()["items"]}


def test_orders_remember_their_coupon_in_the_database(admin, buyer, shop, app):
    point, sku = shop
    c = claim(buyer, make_template(admin)["id"])
    o = order(buyer, point, sku, coupon_id=c["id"]).get_json()
    with app.app_context(), transaction() as s:
        row = s.get(Order, o["id"])
        assert (row.coupon_id, row.coupon_discount, row.total) == (c["id"], 500, PRICE - 500)


def test_an_order_left_unpaid_and_expired_by_the_sweep_gives_its_coupon_back(admin, buyer, shop, app, clock):
    point, sku = shop
    c = claim(buyer, make_template(admin)["id"])
    order(buyer, point, sku, coupon_id=c["id"])
    clock.advance(app.extensions["linli.settings"].payment_timeout_s + 60)
    with app.app_context(), transaction() as s:
        assert transitions.expire_overdue_batch(s, now=clock.now()) == 1
    assert my_statuses(buyer) == {c["id"]: "unused"}
    assert order(buyer, point, sku, coupon_id=c["id"]).status_code == 201
