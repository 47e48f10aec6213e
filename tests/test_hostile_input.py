"""Input that schemathesis found giving a 500 or being accepted against the document, pinned down
on both backends: whatever is sent, the answer is a problem+json 4xx, never a 500."""
from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import jwt as pyjwt
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


@pytest.mark.parametrize("order_id", ["-1", "abc", "1.5", "0x1", "%20"])
def test_an_id_that_is_not_a_positive_integer_is_the_same_422(client, buyer, order_id):
    assert_validation_error(buyer.get(f"/orders/{order_id}"), "path", "order_id")


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


def test_a_nul_in_an_unknown_field_is_a_clean_422(client, buyer):
    """Unknown fields are refused (issue 17), a NUL in the name or the value included."""
    r = buyer.patch("/me", json={"nickname": "好邻居", "unknown\x00": "\x00"})
    assert_validation_error(r, "body", "unknown\x00")
    assert buyer.get("/me").get_json()["nickname"] != "好邻居"


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


def test_an_unknown_body_field_is_refused_not_ignored(client, admin, buyer, leader, product):
    """A misspelt field would otherwise do what was not asked: a full refund for a partial one."""
    _, approved = leader
    order = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 2}],
                                        "pickup_point_id": approved["pickup_point_id"]}).get_json()
    assert buyer.post(f"/orders/{order['id']}/pay").status_code == 200

    assert_validation_error(admin.post(f"/admin/orders/{order['id']}/refund",
                                       json={"reason": "坏果", "refund_amount": 1}), "body", "refund_amount")
    assert buyer.get(f"/orders/{order['id']}").get_json()["status"] == "paid"
    # Nested objects refuse them too.
    r = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1, "price": 1}],
                                    "pickup_point_id": approved["pickup_point_id"]})
    assert_validation_error(r, "body", "items", 0, "price")


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


# ---- tokens -----------------------------------------------------------------------------------

def forged_token(app, sub) -> str:
    """A token signed with the server's own key (as if the key leaked, or a bug issued it) whose
    subject is not a user id this API would write."""
    now = datetime.now(timezone.utc)
    claims = {"sub": sub, "iat": now, "nbf": now, "exp": now + timedelta(minutes=5), "jti": "x", "type": "access",
              "fresh": False}
    return pyjwt.encode(claims, app.config["JWT_SECRET_KEY"], algorithm="HS256")


@pytest.mark.parametrize("sub", [str(2**31), str(2**63), "9" * 40, "-1", "0", "abc", "1e3", " 7", "+7", "1_0",
                                 "\u0661\u0662", 7, 2**70, None, ["1"]])
def test_a_token_whose_subject_is_no_user_id_is_a_401_not_a_500(app, client, buyer, sub):
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged_token(app, sub)}"})
    assert r.status_code == 401 and r.mimetype == PROBLEM, r.get_data(as_text=True)
    assert r.get_json()["code"] == "unauthorized"


def test_a_well_formed_subject_still_names_its_user(app, client, buyer):
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged_token(app, str(buyer.user['id']))}"})
    assert r.status_code == 200 and r.get_json()["id"] == buyer.user["id"]


# ---- text that no person types --------------------------------------------------------------------

UNTYPABLE = {
    "bidi override": "好\u202e邻居", "bidi embedding": "\u202a好", "bidi isolate": "好\u2066邻\u2069",
    "zero-width space": "好\u200b邻居", "zero-width joiner": "好\u200d", "word joiner": "\u2060好",
    "byte order mark": "\ufeff好", "C0 control": "好\x07", "escape": "\x1b[31m红", "DEL": "好\x7f",
    "C1 control": "好\x85邻", "C1 CSI": "\x9b31m", "NUL": "好\x00", "line separator": "好\u2028邻",
}
BLANK = ["", " ", "   ", "\u3000", "\xa0", "\u2003 "]


def place(buyer, point_id, sku_id, **extra):
    return buyer.post("/orders", json={"items": [{"sku_id": sku_id, "qty": 1}], "pickup_point_id": point_id, **extra})


@pytest.mark.parametrize("kind", list(UNTYPABLE))
def test_a_name_with_a_character_no_person_types_is_refused_at_its_field(client, admin, buyer, kind):
    text = UNTYPABLE[kind]
    body = assert_validation_error(buyer.patch("/me", json={"nickname": text}), "body", "nickname")
    assert body["errors"][0]["loc"] == ["body", "nickname"] and body["errors"][0]["type"] == "text_character"
    r = admin.post("/admin/products", json={"name": "西瓜", "skus": [{"name": text, "price": 1, "stock": 1}]})
    assert_validation_error(r, "body", "skus", 0, "name")
    assert buyer.get("/me").get_json()["nickname"] != text


@pytest.mark.parametrize("kind", [k for k in UNTYPABLE if k not in ("C0 control", "escape")] + ["carriage return"])
def test_multi_line_text_takes_newlines_and_tabs_but_nothing_else_unseen(client, buyer, leader, product, kind):
    _, approved = leader
    sku = product["skus"][0]["id"]
    text = UNTYPABLE.get(kind, "门口\r\n")
    if kind == "carriage return":
        r = place(buyer, approved["pickup_point_id"], sku, note="放门口\n\t谢谢\r\n")
        assert r.status_code == 201 and r.get_json()["note"] == "放门口\n\t谢谢\r\n"
        return
    assert_validation_error(place(buyer, approved["pickup_point_id"], sku, note=text), "body", "note")
    assert buyer.get("/orders").get_json()["items"] == []


@pytest.mark.parametrize("blank", BLANK)
def test_a_blank_name_is_refused(client, admin, buyer, leader, blank):
    leader_api, _ = leader
    assert_validation_error(buyer.patch("/me", json={"nickname": blank}), "nickname")
    assert_validation_error(leader_api.patch("/leader/pickup-point", json={"address": blank}), "address")
    r = admin.post("/admin/products", json={"name": blank, "skus": [{"name": "一个", "price": 1, "stock": 1}]})
    assert_validation_error(r, "body", "name")


def test_a_name_may_not_span_lines_but_a_description_may(client, admin):
    r = admin.post("/admin/products", json={"name": "西瓜\n甜", "skus": [{"name": "一个", "price": 1, "stock": 1}]})
    assert_validation_error(r, "body", "name")
    r = admin.post("/admin/products", json={"name": "西瓜 🍉", "description": "甜\n\t脆", "skus": [
        {"name": "一个", "price": 1, "stock": 1}]})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["name"] == "西瓜 🍉" and r.get_json()["description"] == "甜\n\t脆"
    # An empty description clears it; whitespace alone says nothing and is refused.
    pid = r.get_json()["id"]
    assert admin.patch(f"/admin/products/{pid}", json={"description": ""}).get_json()["description"] == ""
    assert_validation_error(admin.patch(f"/admin/products/{pid}", json={"description": " \n "}), "description")


def test_a_lone_surrogate_is_refused_where_it_stands(client, buyer):
    # json.dumps writes the lone half as the escape \ud800, the way a broken client would send it.
    r = buyer.patch("/me", data='{"nickname": "\\ud800好"}', headers={"Content-Type": "application/json"})
    body = assert_validation_error(r)
    assert body["errors"][0]["loc"] == ["body", "nickname"], body


def test_every_free_text_field_of_an_application_is_checked(client, buyer):
    good = {"real_name": "王芳", "phone": "13900000000",
            "pickup_point": {"name": "幸福里", "address": "幸福里 3 幢", "lat": 30.27, "lng": 120.15,
                             "opening_hours": "08:00-20:00"}}
    for field in ("real_name",):
        assert_validation_error(buyer.post("/leader-applications", json={**good, field: "王\u202e芳"}), "body", field)
    for field in ("name", "address", "opening_hours"):
        bad = {**good, "pickup_point": {**good["pickup_point"], field: "\u200b"}}
        assert_validation_error(buyer.post("/leader-applications", json=bad), "body", "pickup_point", field)
    assert buyer.post("/leader-applications", json=good).status_code == 201


def test_a_rejection_reason_must_say_something(client, admin, buyer):
    app_id = buyer.post("/leader-applications", json={
        "real_name": "王芳", "phone": "13900000000",
        "pickup_point": {"name": "幸福里", "address": "幸福里 3 幢", "lat": 30.27, "lng": 120.15}}).get_json()["id"]
    for reason in (" \n ", "资料\u202e不全"):
        assert_validation_error(admin.post(f"/admin/leader-applications/{app_id}/reject", json={"reason": reason}),
                                "body", "reason")
    r = admin.post(f"/admin/leader-applications/{app_id}/reject", json={"reason": "资料不全：\n缺少门店照片"})
    assert r.status_code == 200, r.get_json()


# ---- image URLs and prices ------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["http://img.example.com/a.jpg", "javascript:alert(1)", "//img.example.com/a.jpg",
                                 "https://", "https://img.example.com/a b.jpg", "https://img.example.com/\u202e.jpg",
                                 "https://user@img.example.com/a.jpg", "https://图片.中国/a.jpg",
                                 "https://img.example.com/" + "a" * 1001, "data:image/png;base64,AAAA"])
def test_an_image_is_an_https_url_of_sane_length(client, admin, product, url):
    r = admin.post("/admin/products", json={"name": "西瓜", "images": [url],
                                            "skus": [{"name": "一个", "price": 1, "stock": 1}]})
    assert_validation_error(r, "body", "images", 0)
    assert_validation_error(admin.patch(f"/admin/products/{product['id']}", json={"images": [url]}), "images", 0)


def test_ordinary_https_image_urls_are_taken(client, admin):
    urls = ["https://img.example.com/p/1.jpg", "https://cdn.example.com:8443/a%20b.png?w=200&h=200#x",
            "https://img/x.jpg", "https://img.example.com/" + "a" * 1000]
    r = admin.post("/admin/products", json={"name": "西瓜", "images": urls,
                                            "skus": [{"name": "一个", "price": 1, "stock": 1}]})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["images"] == urls


def test_a_price_is_at_least_one_fen(client, admin, product):
    r = admin.post("/admin/products", json={"name": "西瓜", "skus": [{"name": "一个", "price": 0, "stock": 1}]})
    assert_validation_error(r, "body", "skus", 0, "price")
    sku = product["skus"][0]
    assert_validation_error(admin.patch(f"/admin/skus/{sku['id']}", json={"price": 0}), "body", "price")
    assert_validation_error(admin.patch(f"/admin/skus/{sku['id']}", json={"price": -1}), "body", "price")
    assert admin.patch(f"/admin/skus/{sku['id']}", json={"price": 1}).get_json()["price"] == 1
