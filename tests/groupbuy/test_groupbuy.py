"""Group-buy: opening, joining, paid members filling a group exactly, success dating orders, failure
refunding each paid member once, a paid member leaving, and shipping only after success."""
from __future__ import annotations

from sqlmodel import select

from app.db import transaction, utcnow
from app.groupbuy.models import Group
from app.notify.models import Notification
from app.order import queries as order_queries
from app.order import transitions as order_transitions
from app.payment import service as payment_service
from app.payment.models import Payment, Refund
from app.payment.providers import PaymentEvent, out_trade_no
from tests.conftest import login
from tests.groupbuy.helpers import buyers, make_campaign, past_deadline


def _setup(client, admin, leader, product, **kw):
    _, approved = leader
    point = approved["pickup_point_id"]
    sku = product["skus"][0]
    campaign = make_campaign(admin, sku["id"], **kw)
    return campaign, point, sku


def test_opening_a_group_gives_a_forming_group_and_an_unpaid_undated_order(client, admin, leader, product):
    campaign, point, _ = _setup(client, admin, leader, product, opener_price=890)
    [opener] = buyers(client, 1, point)
    r = opener.post(f"/group-buys/{campaign['id']}/groups", json={})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["group"]["status"] == "forming" and body["group"]["needed"] == 3
    assert body["order"]["status"] == "pending_payment" and body["order"]["delivery_date"] is None
    assert body["order"]["total"] == 890  # the opener's price
    assert [m["nickname"] for m in body["group"]["members"]] == ["邻居0"]
    assert login(client, "viewer").get("/group-buys").get_json()["items"][0]["id"] == campaign["id"]
    r = client.get("/api/v1/group-buys")  # the campaign page needs no login
    assert r.status_code == 200 and r.get_json()["items"][0]["id"] == campaign["id"]


def test_one_open_group_per_buyer_and_campaign_and_one_membership_per_group(client, admin, leader, product):
    campaign, point, _ = _setup(client, admin, leader, product)
    opener, joiner = buyers(client, 2, point)
    group = opener.post(f"/group-buys/{campaign['id']}/groups", json={}).get_json()["group"]
    r = opener.post(f"/group-buys/{campaign['id']}/groups", json={})
    assert r.status_code == 409 and r.get_json()["code"] == "group_already_open"
    assert opener.post(f"/groups/{group['id']}/join", json={}).get_json()["code"] == "already_member"
    assert joiner.post(f"/groups/{group['id']}/join", json={}).status_code == 201
    r = joiner.post(f"/groups/{group['id']}/join", json={})
    assert r.status_code == 409 and r.get_json()["code"] == "already_member"


def test_a_group_succeeds_when_paid_members_reach_its_size_and_its_orders_get_dates_and_codes(
        client, admin, leader, product, app):
    campaign, point, _ = _setup(client, admin, leader, product, group_size=2)
    opener, joiner, late = buyers(client, 3, point)
    opened = opener.post(f"/group-buys/{campaign['id']}/groups", json={}).get_json()
    gid = opened["group"]["id"]
    joined = joiner.post(f"/groups/{gid}/join", json={}).get_json()
    unpaid = late.post(f"/groups/{gid}/join", json={}).get_json()
    paid = opener.post(f"/orders/{opened['order']['id']}/pay").get_json()["order"]
    assert paid["status"] == "paid" and paid["pickup_code"] is None and paid["delivery_date"] is None
    assert login(client, "viewer").get(f"/groups/{gid}").get_json()["paid_count"] == 1
    assert joiner.post(f"/orders/{joined['order']['id']}/pay").status_code == 200
    view = login(client, "viewer").get(f"/groups/{gid}").get_json()
    assert view["status"] == "succeeded" and view["paid_count"] == 2 and view["needed"] == 0
    for api, oid in ((opener, opened["order"]["id"]), (joiner, joined["order"]["id"])):
        o = api.get(f"/orders/{oid}").get_json()
        assert o["delivery_date"] is not None and len(o["pickup_code"]) == 6
    # The full group's unpaid member is cancelled, and the join link now says so.
    assert late.get(f"/orders/{unpaid['order']['id']}").get_json()["status"] == "cancelled"
    assert late.post(f"/groups/{gid}/join", json={}).status_code == 409
    with app.app_context(), transaction() as s:
        events = s.exec(select(Notification.event, Notification.title)).all()
    assert events.count(("group.succeeded", "拼团成功")) == 3  # two buyers and the leader


def test_a_payment_landing_after_the_group_filled_is_recorded_and_refunded(client, admin, leader, product, app):
    campaign, point, _ = _setup(client, admin, leader, product, group_size=2)
    a, b, c = buyers(client, 3, point)
    opened = a.post(f"/group-buys/{campaign['id']}/groups", json={}).get_json()
    gid = opened["group"]["id"]
    ob = b.post(f"/groups/{gid}/join", json={}).get_json()["order"]
    oc = c.post(f"/groups/{gid}/join", json={}).get_json()["order"]
    # c's payment is prepared but lands after the group filled: simulate the provider's notice.
    assert a.post(f"/orders/{opened['order']['id']}/pay").status_code == 200
    with app.app_context(), transaction() as s:
        # b pays, then c's money arrives for a group that was full in between.
        payment_service.confirm_payment(s, provider_name="sandbox", event=PaymentEvent(
            out_trade_no=out_trade_no(ob["id"]), transaction_id="t-b", amount=ob["total"],
            paid_at=utcnow()))
    with app.app_context(), transaction() as s:
        # The group succeeded, so c's order was cancelled; a late payment still is recorded.
        payment_service.confirm_payment(s, provider_name="sandbox", event=PaymentEvent(
            out_trade_no=out_trade_no(oc["id"]), transaction_id="t-c", amount=oc["total"],
            paid_at=utcnow()))
        pay_c = s.exec(select(Payment).where(Payment.order_id == oc["id"])).one()
        refunds = s.exec(select(Refund).where(Refund.order_id == oc["id"])).all()
        group = s.get(Group, gid)
    assert pay_c.status in ("late", "refused") and [r.amount for r in refunds] == [oc["total"]]
    assert group.paid_count == 2


def test_a_full_group_refuses_a_payment_whose_order_is_still_payable(client, admin, leader, product, app):
    """The hook's refusal path: the group is full but this member's order was not cancelled yet."""
    campaign, point, _ = _setup(client, admin, leader, product, group_size=2)
    a, b, c = buyers(client, 3, point)
    opened = a.post(f"/group-buys/{campaign['id']}/groups", json={}).get_json()
    gid = opened["group"]["id"]
    ob = b.post(f"/groups/{gid}/join", json={}).get_json()["order"]
    oc = c.post(f"/groups/{gid}/join", json={}).get_json()["order"]
    with app.app_context(), transaction() as s:
        s.exec(Group.__table__.update().where(Group.__table__.c.id == gid).values(paid_count=2))
    r = c.post(f"/orders/{oc['id']}/pay")
    assert r.status_code == 409, r.get_json()
    with app.app_context(), transaction() as s:
        pay_c = s.exec(select(Payment).where(Payment.order_id == oc["id"])).one()
        refunds = s.exec(select(Refund).where(Refund.order_id == oc["id"])).all()
        order = order_queries.get_order(s, oc["id"])
    assert pay_c.status == "refused" and [x.amount for x in refunds] == [oc["total"]]
    assert order.status == "cancelled"
    assert ob["status"] == "pending_payment"


def test_a_paid_member_who_cancels_while_forming_is_refunded_and_frees_the_place(
        client, admin, leader, product, app):
    campaign, point, _ = _setup(client, admin, leader, product)
    a, b = buyers(client, 2, point)
    opened = a.post(f"/group-buys/{campaign['id']}/groups", json={}).get_json()
    gid = opened["group"]["id"]
    ob = b.post(f"/groups/{gid}/join", json={}).get_json()["order"]
    b.post(f"/orders/{ob['id']}/pay")
    a.post(f"/orders/{opened['order']['id']}/pay")
    assert login(client, "viewer").get(f"/groups/{gid}").get_json()["paid_count"] == 2
    r = b.post(f"/orders/{ob['id']}/cancel")
    assert r.status_code == 200 and r.get_json()["status"] == "refunded"
    view = login(client, "viewer").get(f"/groups/{gid}").get_json()
    assert view["paid_count"] == 1 and [m["nickname"] for m in view["members"]] == ["邻居0"]
    with app.app_context(), transaction() as s:
        assert [x.amount for x in s.exec(select(Refund).where(Refund.order_id == ob["id"]))] == [ob["total"]]


def test_an_unfilled_group_fails_at_its_deadline_once_a_worker_drains_and_refunds_each_paid_member_once(
        client, admin, leader, product, app, drain):
    """The deadline passes while no worker runs: the timer job is still waiting in Redis."""
    campaign, point, sku = _setup(client, admin, leader, product)
    a, b, c = buyers(client, 3, point)
    opened = a.post(f"/group-buys/{campaign['id']}/groups", json={}).get_json()
    gid = opened["group"]["id"]
    ob = b.post(f"/groups/{gid}/join", json={}).get_json()["order"]
    oc = c.post(f"/groups/{gid}/join", json={}).get_json()["order"]
    a.post(f"/orders/{opened['order']['id']}/pay")
    b.post(f"/orders/{ob['id']}/pay")
    past_deadline(app, gid)
    with app.app_context():
        from datetime import datetime, timedelta, timezone

        from rq import Queue
        from rq.registry import ScheduledJobRegistry
        q = Queue(app.extensions["linli.settings"].queue_name, connection=app.extensions["linli.redis"])
        reg = ScheduledJobRegistry(queue=q)
        job = q.fetch_job(f"close-group-{gid}")
        assert job is not None and job.id in reg.get_job_ids()
        reg.schedule(job, datetime.now(timezone.utc) - timedelta(seconds=1))  # its moment has come
    assert drain() == 1  # the deadline's job, whose refunds run in the same burst
    assert drain() == 0  # a second pass (and the sweep below) changes nothing
    with app.app_context():
        from app.groupbuy.jobs import close_due_groups_job
        assert close_due_groups_job() == 0
    assert login(client, "viewer").get(f"/groups/{gid}").get_json()["status"] == "failed"
    assert a.get(f"/orders/{opened['order']['id']}").get_json()["status"] == "refunded"
    assert b.get(f"/orders/{ob['id']}").get_json()["status"] == "refunded"
    assert c.get(f"/orders/{oc['id']}").get_json()["status"] == "cancelled"
    with app.app_context(), transaction() as s:
        refunds = s.exec(select(Refund.order_id, Refund.amount, Refund.status, Refund.attempts, Refund.error)).all()
        notes = s.exec(select(Notification.event)).all()
    assert sorted(r[0] for r in refunds) == sorted([opened["order"]["id"], ob["id"]])
    assert all(r[2] == "succeeded" for r in refunds), refunds
    assert notes.count("group.failed") == 3
    assert client.get("/api/v1/products").get_json()["items"][0]["skus"][0]["stock_available"] == 100


def test_virtual_fill_succeeds_a_group_missing_few_enough_members_at_its_deadline(
        client, admin, leader, product, app):
    campaign, point, _ = _setup(client, admin, leader, product, group_size=3, virtual_fill_max_missing=1)
    a, b = buyers(client, 2, point)
    opened = a.post(f"/group-buys/{campaign['id']}/groups", json={}).get_json()
    gid = opened["group"]["id"]
    ob = b.post(f"/groups/{gid}/join", json={}).get_json()["order"]
    a.post(f"/orders/{opened['order']['id']}/pay")
    b.post(f"/orders/{ob['id']}/pay")
    past_deadline(app, gid)
    with app.app_context():
        from app.groupbuy.jobs import close_due_groups_job
        assert close_due_groups_job() == 1
    assert login(client, "viewer").get(f"/groups/{gid}").get_json()["status"] == "succeeded"
    assert b.get(f"/orders/{ob['id']}").get_json()["pickup_code"] is not None


def test_a_group_order_is_shipped_on_the_manifest_only_after_its_group_succeeded(
        client, admin, leader, product, app):
    campaign, point, _ = _setup(client, admin, leader, product, group_size=2)
    a, b = buyers(client, 2, point)
    opened = a.post(f"/group-buys/{campaign['id']}/groups", json={}).get_json()
    gid = opened["group"]["id"]
    a.post(f"/orders/{opened['order']['id']}/pay")
    ob = b.post(f"/groups/{gid}/join", json={}).get_json()["order"]
    # Forming: paid but undated; even dated by hand, the manifest build leaves it unshipped.
    day = a.get("/orders").get_json()["items"][0]
    assert day["status"] == "paid" and day["delivery_date"] is None
    from datetime import date, timedelta
    tomorrow = date.today() + timedelta(days=1)
    with app.app_context(), transaction() as s:
        order_transitions.set_delivery_date(s, order_id=opened["order"]["id"], delivery_date=tomorrow)
    r = admin.post(f"/admin/manifests/{tomorrow.isoformat()}/build")
    assert r.status_code in (200, 201), r.get_json()
    assert a.get(f"/orders/{opened['order']['id']}").get_json()["status"] == "paid"
    b.post(f"/orders/{ob['id']}/pay")
    day = b.get(f"/orders/{ob['id']}").get_json()["delivery_date"]
    r = admin.post(f"/admin/manifests/{day}/build")
    assert r.status_code in (200, 201), r.get_json()
    assert b.get(f"/orders/{ob['id']}").get_json()["status"] == "shipped"


def test_opening_and_joining_honour_an_idempotency_key_and_need_no_body(client, admin, leader, product):
    campaign, point, _ = _setup(client, admin, leader, product)
    a, b = buyers(client, 2, point)
    first = a.post(f"/group-buys/{campaign['id']}/groups", headers={"Idempotency-Key": "open-1"})
    again = a.post(f"/group-buys/{campaign['id']}/groups", headers={"Idempotency-Key": "open-1"})
    assert first.status_code == again.status_code == 201, first.get_json()
    assert again.get_json()["order"]["id"] == first.get_json()["order"]["id"]
    gid = first.get_json()["group"]["id"]
    j1 = b.post(f"/groups/{gid}/join", json={}, headers={"Idempotency-Key": "join-1"})
    j2 = b.post(f"/groups/{gid}/join", json={}, headers={"Idempotency-Key": "join-1"})
    assert j1.status_code == j2.status_code == 201 and j1.get_json()["order"]["id"] == j2.get_json()["order"]["id"]
    assert len(b.get("/orders").get_json()["items"]) == 1


def test_the_per_user_limit_counts_units_over_the_campaign(client, admin, leader, product):
    campaign, point, _ = _setup(client, admin, leader, product, per_user_limit=2)
    a, b, c = buyers(client, 3, point)
    g1 = a.post(f"/group-buys/{campaign['id']}/groups", json={"qty": 2}).get_json()["group"]
    g2 = b.post(f"/group-buys/{campaign['id']}/groups", json={}).get_json()["group"]
    assert c.post(f"/groups/{g1['id']}/join", json={"qty": 2}).status_code == 201
    r = c.post(f"/groups/{g2['id']}/join", json={"qty": 1})
    assert r.status_code == 409 and r.get_json()["code"] == "limit_exceeded"


def test_a_campaigns_own_stock_is_carved_from_the_sku_and_comes_back_to_the_campaign(
        client, admin, leader, product, app):
    from app.groupbuy.models import GroupBuy
    campaign, point, _ = _setup(client, admin, leader, product, stock=2)
    assert client.get("/api/v1/products").get_json()["items"][0]["skus"][0]["stock_available"] == 98
    a, b, c = buyers(client, 3, point)
    opened = a.post(f"/group-buys/{campaign['id']}/groups", json={}).get_json()
    gid = opened["group"]["id"]
    assert b.post(f"/groups/{gid}/join", json={}).status_code == 201
    r = c.post(f"/groups/{gid}/join", json={})
    assert r.status_code == 409 and r.get_json()["code"] == "sold_out"
    assert a.post(f"/orders/{opened['order']['id']}/cancel").get_json()["status"] == "cancelled"
    with app.app_context(), transaction() as s:
        assert s.get(GroupBuy, campaign["id"]).stock_left == 1
    assert client.get("/api/v1/products").get_json()["items"][0]["skus"][0]["stock_available"] == 98
    assert c.post(f"/groups/{gid}/join", json={}).status_code == 201


def test_the_leader_cannot_hand_over_a_paid_order_of_a_forming_group(client, admin, leader, product):
    leader_api, _ = leader
    campaign, point, _ = _setup(client, admin, leader, product)
    [a] = buyers(client, 1, point)
    opened = a.post(f"/group-buys/{campaign['id']}/groups", json={}).get_json()
    paid = a.post(f"/orders/{opened['order']['id']}/pay").get_json()["order"]
    assert paid["status"] == "paid" and paid["pickup_code"] is None and paid["delivery_date"] is None
    r = leader_api.post("/leader/pickups", json={"pickup_code": "000000"})
    assert r.status_code == 404 and r.get_json()["code"] == "unknown_code"
