"""The operator's order search (GET /admin/orders): every filter narrows, the cursor pages, and
only operators may call it. On both databases."""
from __future__ import annotations

from tests.conftest import login, make_leader


def place(buyer, product, point_id, qty=1):
    r = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": qty}],
                                    "pickup_point_id": point_id})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def ids(r):
    assert r.status_code == 200, r.get_json()
    return [o["id"] for o in r.get_json()["items"]]


def test_the_operator_finds_orders_by_each_filter(client, admin, buyer, leader, product):
    _, point = leader
    _, other = make_leader(client, admin)
    p1, p2 = point["pickup_point_id"], other["pickup_point_id"]
    assert buyer.patch("/me", json={"phone": "13812345678"}).status_code == 200
    neighbour = login(client, "buyer-2", nickname="隔壁")
    a = place(buyer, product, p1)
    b = place(buyer, product, p2, qty=2)
    c = place(neighbour, product, p1)
    assert buyer.post(f"/orders/{b['id']}/cancel").status_code == 200

    assert ids(admin.get("/admin/orders")) == [c["id"], b["id"], a["id"]]
    assert ids(admin.get("/admin/orders", query_string={"order_id": a["id"]})) == [a["id"]]
    assert ids(admin.get("/admin/orders", query_string={"buyer_id": buyer.user["id"]})) == [b["id"], a["id"]]
    assert ids(admin.get("/admin/orders", query_string={"phone_tail": "5678"})) == [b["id"], a["id"]]
    assert ids(admin.get("/admin/orders", query_string={"phone_tail": "0000"})) == []
    assert ids(admin.get("/admin/orders", query_string={"pickup_point_id": p1})) == [c["id"], a["id"]]
    assert ids(admin.get("/admin/orders", query_string={"status": "cancelled"})) == [b["id"]]
    assert ids(admin.get("/admin/orders", query_string={"source": "plain", "pickup_point_id": p2})) == [b["id"]]
    assert ids(admin.get("/admin/orders", query_string={"source": "bargain"})) == []
    assert ids(admin.get("/admin/orders", query_string={"delivery_date": a["delivery_date"]})) == \
        [c["id"], b["id"], a["id"]]
    assert ids(admin.get("/admin/orders", query_string={"delivery_date": "2001-01-01"})) == []


def test_the_search_pages_with_a_cursor(client, admin, buyer, leader, product):
    _, point = leader
    placed = [place(buyer, product, point["pickup_point_id"])["id"] for _ in range(3)]
    first = admin.get("/admin/orders", query_string={"limit": 2}).get_json()
    assert [o["id"] for o in first["items"]] == placed[::-1][:2] and first["next_cursor"]
    rest = admin.get("/admin/orders", query_string={"limit": 2, "cursor": first["next_cursor"]}).get_json()
    assert [o["id"] for o in rest["items"]] == [placed[0]] and rest["next_cursor"] is None


def test_bad_filters_are_422_and_buyers_are_refused(admin, buyer):
    for q in ({"phone_tail": "12"}, {"phone_tail": "abcd"}, {"status": "lost"}, {"source": "x"},
              {"delivery_date": "tomorrow"}, {"delivery_date": "0"}, {"order_id": 0}):
        r = admin.get("/admin/orders", query_string=q)
        assert r.status_code == 422, (q, r.get_json())
    assert buyer.get("/admin/orders").status_code == 403
