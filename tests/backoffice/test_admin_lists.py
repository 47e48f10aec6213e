"""The operator's lists of leaders (GET /admin/leaders) and pickup points (GET /admin/pickup-points):
each filter narrows, the cursor pages, each row carries its point's figures for a delivery date, and
a page costs the same few statements whatever its size. On both databases."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import event, update

from app.backoffice import figures
from app.db import reading, transaction
from app.leader.models import Leader
from app.order.rules import local_today
from tests.conftest import login, make_leader
from tests.leader.test_commissions import picked_up
from tests.leader.test_workbench import paid_order

FAR = {"lat": 31.2304, "lng": 121.4737}  # Shanghai, 160 km from the default point (Hangzhou)


@pytest.fixture
def world(app, client, admin, product):
    """Point A (西湖): buyer 1 picked up 3 units and had 1 refunded, buyer 2 paid 1 unit (not
    picked up) and cancelled another; the leader and both buyers bound to it. Point B (far away):
    buyer 3 paid 1 unit."""
    leader_a, a = make_leader(client, admin, name="西湖自提点")
    leader_b, b = make_leader(client, admin, name="外滩自提点", **FAR)
    pa, pb = a["pickup_point_id"], b["pickup_point_id"]
    with app.app_context(), transaction() as s:
        s.execute(update(Leader).where(Leader.id == a["leader_id"]).values(phone="13812345678"))
    buyers = [login(client, f"bo-buyer-{i}", nickname=f"邻居{i}") for i in (1, 2, 3)]
    for api, point in ((leader_a, pa), (buyers[0], pa), (buyers[1], pa), (buyers[2], pb)):
        assert api.put("/me/pickup-point", json={"pickup_point_id": point}).status_code == 200
    o2 = paid_order(buyers[1], product, pa)
    o3 = paid_order(buyers[2], product, pb)
    o1 = picked_up(app, leader_a, buyers[0], product, pa, qty=3)  # ships every paid order of the date
    sku = product["skus"][0]["id"]
    r = admin.post(f"/admin/orders/{o1['id']}/refund", json={"lines": [{"sku_id": sku, "qty": 1}]})
    assert r.status_code == 200, r.get_json()
    unpaid = buyers[1].post("/orders", json={"items": [{"sku_id": sku, "qty": 5}], "pickup_point_id": pa}).get_json()
    assert buyers[1].post(f"/orders/{unpaid['id']}/cancel").status_code == 200
    (commission,) = leader_a.get("/leader/commissions").get_json()["items"]
    assert o1["delivery_date"] == o2["delivery_date"] == o3["delivery_date"]
    return {"a": a, "b": b, "pa": pa, "pb": pb, "day": o1["delivery_date"], "commission": commission["amount"]}


def items(r):
    assert r.status_code == 200, r.get_json()
    return r.get_json()["items"]


def test_each_row_carries_its_points_figures_for_the_date(admin, world):
    body = admin.get("/admin/pickup-points", query_string={"date": world["day"]}).get_json()
    assert body["date"] == world["day"]
    rows = {p["id"]: p for p in body["items"]}
    assert world["commission"] == round(2 * 1990 * 0.1)  # rebased on the 2 units kept
    assert rows[world["pa"]]["figures"] == {"orders": 2, "paid_amount": 4 * 1990 - 1990, "picked_up": 1,
                                            "pending_pickups": 1, "pickup_rate": 0.5, "fans": 2,
                                            "commission": world["commission"]}
    assert rows[world["pb"]]["figures"] == {"orders": 1, "paid_amount": 1990, "picked_up": 0, "pending_pickups": 1,
                                            "pickup_rate": 0.0, "fans": 1, "commission": 0}
    assert rows[world["pa"]]["status"] == "open" and rows[world["pa"]]["leader"]["phone"] == "13812345678"
    leaders = {row["id"]: row for row in items(admin.get("/admin/leaders", query_string={"date": world["day"]}))}
    a = leaders[world["a"]["leader_id"]]
    assert a["figures"] == rows[world["pa"]]["figures"]
    assert a["pickup_point"] == {"id": world["pa"], "name": "西湖自提点", "active": True}
    assert a["status"] == "active" and a["commission_rate"] == 0.1
    # Another day: the same rows, nothing ordered (fans are who is bound now).
    other = {p["id"]: p["figures"] for p in items(admin.get("/admin/pickup-points",
                                                            query_string={"date": "2001-01-01"}))}
    assert other[world["pa"]] == {"orders": 0, "paid_amount": 0, "picked_up": 0, "pending_pickups": 0,
                                  "pickup_rate": None, "fans": 2, "commission": 0}


def test_the_date_defaults_to_today_in_the_service_time_zone(app, admin, world):
    body = admin.get("/admin/leaders").get_json()
    assert body["date"] == local_today(app.extensions["linli.settings"]).isoformat()
    assert date.fromisoformat(body["date"]) < date.fromisoformat(world["day"])  # orders deliver tomorrow or later
    assert all(row["figures"]["orders"] == 0 for row in body["items"])


def test_every_filter_narrows(admin, world):
    def ids(path, **q):
        return [row["id"] for row in items(admin.get(path, query_string=q))]

    la, lb = world["a"]["leader_id"], world["b"]["leader_id"]
    pa, pb = world["pa"], world["pb"]
    assert ids("/admin/leaders") == [lb, la]
    assert ids("/admin/leaders", q="西湖") == [la]  # the point's name
    assert ids("/admin/leaders", q="团长") == [lb, la]  # the leader's name
    assert ids("/admin/leaders", q="%") == [] and ids("/admin/leaders", q="_") == []  # no wildcards
    assert ids("/admin/leaders", phone_tail="5678") == [la]
    assert ids("/admin/pickup-points", q="外滩") == [pb]
    assert ids("/admin/pickup-points", q="某路") == [pb, pa]  # the address
    assert ids("/admin/pickup-points", phone_tail="0000") == [pb]
    assert admin.patch(f"/admin/leaders/{lb}", json={"active": False}).status_code == 200
    assert admin.patch(f"/admin/pickup-points/{pa}", json={"active": False}).status_code == 200
    assert ids("/admin/leaders", status="suspended") == [lb] and ids("/admin/leaders", status="active") == [la]
    assert ids("/admin/pickup-points", status="closed") == [pa] and ids("/admin/pickup-points", status="open") == [pb]
    near = items(admin.get("/admin/pickup-points", query_string={"lat": 30.2741, "lng": 120.1551, "radius_m": 1000}))
    assert [(p["id"], p["distance_m"]) for p in near] == [(pa, 0)]
    assert ids("/admin/pickup-points", radius_m=50_000, **FAR) == [pb]
    assert all(p["distance_m"] is None for p in items(admin.get("/admin/pickup-points")))


def test_the_lists_page_with_a_cursor(admin, world):
    for path, expected in (("/admin/leaders", [world["b"]["leader_id"], world["a"]["leader_id"]]),
                           ("/admin/pickup-points", [world["pb"], world["pa"]])):
        first = admin.get(path, query_string={"limit": 1}).get_json()
        assert [r["id"] for r in first["items"]] == expected[:1] and first["next_cursor"]
        rest = admin.get(path, query_string={"limit": 1, "cursor": first["next_cursor"]}).get_json()
        assert [r["id"] for r in rest["items"]] == expected[1:] and rest["next_cursor"] is None


def test_bad_filters_are_422_and_only_operators_may_list(client, admin, buyer, leader):
    for path, q in (("/admin/leaders", {"phone_tail": "12"}), ("/admin/leaders", {"status": "open"}),
                    ("/admin/leaders", {"date": "tomorrow"}), ("/admin/leaders", {"q": ""}),
                    ("/admin/pickup-points", {"status": "active"}), ("/admin/pickup-points", {"lat": 30}),
                    ("/admin/pickup-points", {"lat": 30, "lng": 200}),
                    ("/admin/pickup-points", {"lat": 30, "lng": 120, "radius_m": 0})):
        r = admin.get(path, query_string=q)
        assert r.status_code == 422, (path, q, r.get_json())
    for path in ("/admin/leaders", "/admin/pickup-points"):
        assert buyer.get(path).status_code == 403
        assert leader[0].get(path).status_code == 403
        assert client.get(f"/api/v1{path}").status_code == 401


def test_a_page_with_its_figures_is_five_statements_whatever_its_size(app, client, admin, world, product):
    """The page, then one grouped statement per kind of figure (orders, units given back, fans,
    commission) over all the page's points: never a statement per row."""
    for _ in range(5):
        _, extra = make_leader(client, admin)
        paid_order(login(client, f"bo-more-{extra['leader_id']}"), product, extra["pickup_point_id"])
    engine = app.extensions["linli.engine"]
    counts = {}
    for limit in (1, 5):
        statements: list[str] = []

        def count(conn, cursor, statement, *args):
            statements.append(statement)

        with app.app_context(), reading() as s:
            s.connection()  # the session's BEGIN is not the query
            event.listen(engine, "before_cursor_execute", count)
            try:
                rows = figures.list_points(s, q=None, phone_tail=None, status=None, near=None, before_id=None,
                                           limit=limit)
                got = figures.day_figures(s, point_ids=[p.id for p, _ in rows], day=date.fromisoformat(world["day"]))
                leaders = figures.list_leaders(s, q=None, phone_tail=None, status=None, before_id=None, limit=limit)
            finally:
                event.remove(engine, "before_cursor_execute", count)
        assert len(rows) == limit + 1 and len(got) == limit + 1 and len(leaders) == limit + 1
        counts[limit] = len(statements)
    assert counts == {1: 6, 5: 6}, counts  # the points' page, four figure statements, the leaders' page
    # Over HTTP too: a page of 5 costs what a page of 1 does.
    http = {}
    for limit in (1, 5):
        statements = []

        def count_http(conn, cursor, statement, *args):
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", count_http)
        try:
            assert len(items(admin.get("/admin/pickup-points", query_string={"limit": limit,
                                                                              "date": world["day"]}))) == limit
            assert len(items(admin.get("/admin/leaders", query_string={"limit": limit, "date": world["day"]}))) == limit
        finally:
            event.remove(engine, "before_cursor_execute", count_http)
        http[limit] = len(statements)
    assert http[1] == http[5], http
