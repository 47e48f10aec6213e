"""Money and stock are 64-bit: the dearest SKU the catalog accepts, ordered in the largest quantity an
order accepts, is a 201 (not PostgreSQL's "integer out of range" as a 500), and paying and refunding
it keep the amount to the fen. On SQLite INTEGER is 64-bit already; PostgreSQL is the real test.

The request schemas bound the worst case: price <= 100,000,000 fen, qty <= 999 per line, at most 50
lines, so an order's total is at most 4,995,000,000,000 fen, far below 2**63 - 1."""
from __future__ import annotations

import pytest

from app.catalog.schemas import SkuCreate
from app.order.schemas import ItemIn, OrderCreate
from tests.conftest import make_product


@pytest.fixture
def settings_overrides():
    # The per-SKU cap against hoarding (default 99) may be raised as far as a line's own bound.
    return {"max_qty_per_sku": 999}


def _bound(model, field, kind):
    return next(getattr(m, kind) for m in model.model_fields[field].metadata if getattr(m, kind, None) is not None)


def test_the_request_schemas_bound_an_order_total_below_64_bits():
    from app.config import Settings

    assert _bound(Settings, "max_qty_per_sku", "le") <= _bound(ItemIn, "qty", "le")
    price, qty = _bound(SkuCreate, "price", "le"), _bound(ItemIn, "qty", "le")
    lines = _bound(OrderCreate, "items", "max_length")
    assert price * qty * lines < 2**63 - 1
    assert price * qty > 2**31 - 1  # ... and above 32: the reason the columns are 64-bit


def test_the_dearest_sku_in_the_largest_quantity_is_ordered_paid_and_refunded_to_the_fen(client, admin, buyer,
                                                                                        leader):
    # given SKUs at the highest price the catalog accepts
    price = _bound(SkuCreate, "price", "le")
    qty = _bound(ItemIn, "qty", "le")
    lines = _bound(OrderCreate, "items", "max_length")
    product = make_product(admin, name="金条", skus=tuple((f"规格{i}", price, 10_000_000) for i in range(lines)))
    _, point = leader

    # when a buyer orders every one of them in the largest quantity
    r = buyer.post("/orders", json={"items": [{"sku_id": s["id"], "qty": qty} for s in product["skus"]],
                                    "pickup_point_id": point["pickup_point_id"]})

    # then the order is placed, and its total is exact
    assert r.status_code == 201, r.get_json()
    order = r.get_json()
    assert order["total"] == price * qty * lines == 4_995_000_000_000
    assert all(item["amount"] == price * qty for item in order["items"])
    stock = client.get(f"/api/v1/products/{product['id']}").get_json()["skus"][0]["stock_available"]
    assert stock == 10_000_000 - qty

    # and it can be paid and refunded in full
    r = buyer.post(f"/orders/{order['id']}/pay")
    assert r.status_code == 200 and r.get_json()["order"]["status"] == "paid", r.get_json()
    r = buyer.post(f"/orders/{order['id']}/cancel")
    assert r.status_code == 200 and r.get_json()["status"] == "refunded", r.get_json()
    [refund] = admin.get("/admin/refunds").get_json()["items"]
    assert refund["amount"] == refund["total"] == order["total"]


def test_stock_added_past_32_bits_is_kept(client, admin):
    product = make_product(admin, skus=(("一箱", 100, 10_000_000),))
    sku_id = product["skus"][0]["id"]

    for _ in range(215):  # 10,000,000 + 215 × 10,000,000 > 2**31
        assert admin.patch(f"/admin/skus/{sku_id}", json={"stock_delta": 10_000_000}).status_code == 200

    stock = client.get(f"/api/v1/products/{product['id']}").get_json()["skus"][0]["stock_available"]
    assert stock == 2_160_000_000 > 2**31 - 1
