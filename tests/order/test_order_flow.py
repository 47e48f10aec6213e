from tests.conftest import login


def test_a_buyer_orders_pays_and_gets_a_pickup_code(client, admin, leader, product, buyer):
    _, approved = leader
    sku = product["skus"][0]
    r = buyer.post("/orders", json={"items": [{"sku_id": sku["id"], "qty": 2}],
                                    "pickup_point_id": approved["pickup_point_id"]})
    assert r.status_code == 201, r.get_json()
    order = r.get_json()
    assert order["status"] == "pending_payment" and order["total"] == 2 * sku["price"]
    r = buyer.post(f"/orders/{order['id']}/pay")
    assert r.status_code == 200, r.get_json()
    paid = r.get_json()["order"]
    assert paid["status"] == "paid" and len(paid["pickup_code"]) == 6
