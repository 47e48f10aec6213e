"""Input that schemathesis found giving a 500 or being accepted against the document, pinned down
on both backends: whatever is sent, the answer is a problem+json 4xx, never a 500."""
from __future__ import annotations

import base64

import pytest

PROBLEM = "application/problem+json"


def assert_validation_error(r, *loc_fragment):
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.mimetype == PROBLEM
    body = r.get_json()
    assert body["code"] == "validation_error", body
    if loc_fragment:
        assert any(all(part in e["loc"] for part in loc_fragment) for e in body.get("errors", [])), body
    return body


@pytest.mark.parametrize("path", ["/orders/{}", "/orders/{}/pay", "/orders/{}/cancel"])
@pytest.mark.parametrize("order_id", [2**31, 2**63, 550521311647230197760, 0])
def test_an_id_no_row_can_have_is_a_422_not_a_500(client, buyer, path, order_id):
    method = buyer.get if path == "/orders/{}" else buyer.post
    assert_validation_error(method(path.format(order_id)), "order_id")


def test_a_negative_id_matches_no_route(client, buyer):
    r = buyer.get("/orders/-1")
    assert r.status_code == 404 and r.mimetype == PROBLEM


def test_an_id_in_a_body_beyond_any_row_is_a_422(client, buyer, leader):
    _, approved = leader
    r = buyer.post("/orders", json={"items": [{"sku_id": 2**64, "qty": 1}], "pickup_point_id": approved["pickup_point_id"]})
    assert_validation_error(r, "sku_id")
    assert_validation_error(buyer.put("/me/pickup-point", json={"pickup_point_id": 10**30}), "pickup_point_id")


def test_a_forged_cursor_with_a_huge_id_is_a_422(client, buyer):
    forged = base64.urlsafe_b64encode(f"id:{2**70}".encode()).decode().rstrip("=")
    assert_validation_error(buyer.get("/orders", query_string={"cursor": forged}), "cursor")


def test_text_with_a_nul_character_is_a_422_on_every_backend(client, admin, buyer):
    r = admin.post("/admin/products", json={"name": "西瓜\x00", "skus": [{"name": "一个", "price": 1, "stock": 1}]})
    assert_validation_error(r, "name")
    assert_validation_error(buyer.patch("/me", json={"nickname": "a\x00b"}), "nickname")
    assert_validation_error(client.post("/api/v1/auth/dev-login", json={"openid": "\x00"}), "openid")
    r = admin.post("/admin/products", json={"name": "ok", "images": ["https://x/\x00.png"],
                                            "skus": [{"name": "一个", "price": 1, "stock": 1}]})
    assert_validation_error(r, "images")


def test_a_nul_in_an_ignored_extra_field_does_no_harm(client, buyer):
    r = buyer.patch("/me", json={"nickname": "好邻居", "unknown\x00": "\x00"})
    assert r.status_code == 200 and r.get_json()["nickname"] == "好邻居"


@pytest.mark.parametrize("body", [
    {"items": [{"sku_id": 1, "qty": True}]},
    {"items": [{"sku_id": "1", "qty": 1}]},
    {"items": [{"sku_id": 1, "qty": 1.5}]},
    {"items": [{"sku_id": 1, "qty": 1}], "note": 12},
])
def test_a_value_of_the_wrong_json_type_is_a_422_not_coerced(client, buyer, body):
    assert_validation_error(buyer.post("/orders", json=body))


def test_booleans_are_true_and_false_not_numbers(client, admin, product):
    sku = product["skus"][0]
    assert_validation_error(admin.patch(f"/admin/skus/{sku['id']}", json={"active": 0}), "active")
    assert_validation_error(admin.patch(f"/admin/skus/{sku['id']}", json={"stock": False}), "stock")


def test_an_integral_number_written_with_a_fraction_is_still_an_integer(client, admin, product):
    sku = product["skus"][0]
    r = admin.patch(f"/admin/skus/{sku['id']}", json={"price": 2500.0})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["price"] == 2500


@pytest.mark.parametrize("value", ["0", "86400", "2026-1-2", "2026-02-30", "2026-01-02T00:00:00", "tomorrow"])
def test_a_delivery_date_is_yyyy_mm_dd_and_nothing_else(client, leader, value):
    leader_api, _ = leader
    assert_validation_error(leader_api.post(f"/leader/deliveries/{value}/receive"), "delivery_date")
    assert_validation_error(leader_api.get("/leader/orders", query_string={"delivery_date": value}), "delivery_date")
    assert_validation_error(leader_api.get("/leader/summary", query_string={"delivery_date": value}), "delivery_date")
    assert_validation_error(leader_api.post("/leader/pickups", json={"pickup_code": "123456", "delivery_date": value}),
                            "delivery_date")


def test_a_well_formed_delivery_date_still_works(client, leader):
    leader_api, _ = leader
    assert leader_api.post("/leader/deliveries/2026-11-23/receive").get_json() == {"arrived": 0}
    assert leader_api.get("/leader/summary", query_string={"delivery_date": "2026-11-23"}).status_code == 200


@pytest.mark.parametrize("key", ["", "k" * 256, "bad\tkey"])
def test_an_unusable_idempotency_key_is_a_422_validation_error(client, buyer, leader, product, key):
    _, approved = leader
    r = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}],
                                    "pickup_point_id": approved["pickup_point_id"]},
                   headers={"Idempotency-Key": key})
    assert_validation_error(r, "Idempotency-Key")
    assert buyer.get("/orders").get_json()["items"] == []


def test_an_after_sales_reason_longer_than_its_column_is_a_422(client, admin, buyer, leader, product):
    _, approved = leader
    order = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}],
                                        "pickup_point_id": approved["pickup_point_id"]}).get_json()
    buyer.post(f"/orders/{order['id']}/pay")

    assert_validation_error(admin.post(f"/admin/orders/{order['id']}/refund", json={"reason": "x" * 65}), "reason")
    r = admin.post(f"/admin/orders/{order['id']}/refund", json={"reason": "x" * 64})
    assert r.status_code == 200 and r.get_json()["status"] == "refunded"


# ---- deeply nested JSON: RecursionError never escapes ------------------------------------------

def nested(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("depth", [500, 100_000])
@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize("path", ["/api/v1/auth/dev-login", "/api/v1/auth/wechat",
                                  "/api/v1/payments/wechatpay/notify", "/api/v1/no-such-path"])
def test_json_nested_deep_is_a_400_without_login(client, path, depth, kind):
    body = nested(depth, kind)
    r = client.post(path, data=body, content_type="application/json")
    if len(body) > 1024 * 1024:  # 100,000 levels of '{"a":' is over the body limit
        assert r.status_code == 413 and r.get_json()["code"] == "payload_too_large"
    else:
        assert r.status_code == 400 and r.mimetype == PROBLEM and r.get_json()["code"] == "bad_request"


@pytest.mark.parametrize("method,path", [("put", "/me/pickup-point"), ("patch", "/me"), ("post", "/orders")])
def test_json_nested_deep_is_a_400_for_a_logged_in_caller_too(client, buyer, method, path):
    r = getattr(buyer.client, method)(f"/api/v1{path}", data=nested(500, "object"),
                                      content_type="application/json", headers=buyer.headers)
    assert r.status_code == 400 and r.get_json()["code"] == "bad_request"
    # and a body as deep as any real request is fine
    assert buyer.patch("/me", json={"nickname": "好邻居"}).status_code == 200


def test_json_nested_deep_without_a_token_on_a_protected_path_is_a_401_first(client):
    r = client.post("/api/v1/orders", data=nested(100_000, "array"), content_type="application/json")
    assert r.status_code == 401
