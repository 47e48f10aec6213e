from tests.conftest import make_product


def test_an_operator_creates_a_product_that_buyers_see(client, admin):
    r = admin.post("/admin/products", json={"name": "土鸡蛋", "description": "农家散养", "images": ["https://img/x.jpg"],
                                            "skus": [{"name": "30枚装", "price": 2990, "stock": 300}]})
    assert r.status_code == 201
    p = r.get_json()
    assert p["skus"][0]["id"] and p["skus"][0]["stock_available"] == 300
    listed = client.get("/api/v1/products").get_json()
    assert [x["id"] for x in listed["items"]] == [p["id"]] and listed["next_cursor"] is None
    one = client.get(f"/api/v1/products/{p['id']}").get_json()
    assert one["skus"] == [{"id": p["skus"][0]["id"], "name": "30枚装", "price": 2990, "stock_available": 300,
                            "active": True}]


def test_products_off_sale_and_inactive_skus_are_hidden(client, admin):
    p = make_product(admin, skus=(("a", 100, 1), ("b", 200, 1)))
    assert admin.patch(f"/admin/skus/{p['skus'][1]['id']}", json={"active": False}).status_code == 200
    assert [k["name"] for k in client.get(f"/api/v1/products/{p['id']}").get_json()["skus"]] == ["a"]
    r = admin.patch(f"/admin/products/{p['id']}", json={"on_sale": False, "name": "改名"})
    assert r.status_code == 200 and r.get_json()["name"] == "改名"
    assert client.get(f"/api/v1/products/{p['id']}").status_code == 404
    assert client.get("/api/v1/products").get_json()["items"] == []


def test_stock_can_be_set_or_moved_atomically_but_never_below_zero(client, admin):
    p = make_product(admin, skus=(("a", 100, 5),))
    sku = p["skus"][0]["id"]
    assert admin.patch(f"/admin/skus/{sku}", json={"stock_delta": 10}).get_json()["stock_available"] == 15
    assert admin.patch(f"/admin/skus/{sku}", json={"stock": 3, "price": 150}).get_json() == {
        "id": sku, "name": "a", "price": 150, "stock_available": 3, "active": True}
    r = admin.patch(f"/admin/skus/{sku}", json={"stock_delta": -4})
    assert r.status_code == 409 and r.get_json()["code"] == "out_of_stock"
    assert admin.patch(f"/admin/skus/{sku}", json={"stock": -1}).status_code == 422
    assert admin.patch("/admin/skus/99999", json={"stock": 1}).status_code == 404


def test_product_input_is_validated(client, admin, buyer):
    assert admin.post("/admin/products", json={"name": "x", "skus": []}).status_code == 422
    assert admin.post("/admin/products", json={"name": "x", "skus": [{"name": "a", "price": 1.5, "stock": 1}]}).status_code == 422
    assert admin.post("/admin/products", json={"name": "", "skus": [{"name": "a", "price": 1, "stock": 1}]}).status_code == 422
    assert buyer.post("/admin/products", json={"name": "x", "skus": [{"name": "a", "price": 1, "stock": 1}]}).status_code == 403


def test_product_lists_page_with_a_cursor(client, admin):
    ids = [make_product(admin, name=f"p{i}")["id"] for i in range(3)]
    first = client.get("/api/v1/products?limit=2").get_json()
    rest = client.get(f"/api/v1/products?limit=2&cursor={first['next_cursor']}").get_json()
    assert [p["id"] for p in first["items"] + rest["items"]] == ids[::-1] and rest["next_cursor"] is None
    assert client.get("/api/v1/products?limit=101").status_code == 422
