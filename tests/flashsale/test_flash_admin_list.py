"""GET /admin/flash-sales: every sale, newest first, with its state and figures, paged; operators
only. On both databases."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from app.db import transaction, utcnow
from app.flashsale.models import FlashSale
from tests.flashsale.test_flash_basics import make_sale


def test_operators_list_every_sale_with_its_state(app, client, admin, buyer, product):
    sku = product["skus"][0]["id"]
    running = make_sale(admin, sku, stock=3)
    upcoming = make_sale(admin, sku, stock=2, starts=3600, ends=7200)
    ended = make_sale(admin, sku, stock=1, starts=-7200, ends=60)
    with app.app_context(), transaction() as s:  # a window cannot be created in the past: end it now
        s.exec(update(FlashSale).where(FlashSale.id == ended["id"]).values(ends_at=utcnow() - timedelta(seconds=1)))

    r = admin.get("/admin/flash-sales")
    assert r.status_code == 200, r.get_json()
    items = r.get_json()["items"]
    assert [(s["id"], s["state"], s["stock"]) for s in items] == [
        (ended["id"], "ended", 1), (upcoming["id"], "upcoming", 2), (running["id"], "running", 3)]
    assert all(s["confirmed"] == 0 and s["paid"] == 0 for s in items)
    # the buyers' list shows only what is not over yet
    assert {s["id"] for s in client.get("/api/v1/flash-sales").get_json()["items"]} == {running["id"], upcoming["id"]}

    first = admin.get("/admin/flash-sales", query_string={"limit": 2}).get_json()
    rest = admin.get("/admin/flash-sales", query_string={"limit": 2, "cursor": first["next_cursor"]}).get_json()
    assert [s["id"] for s in rest["items"]] == [running["id"]] and rest["next_cursor"] is None

    assert buyer.get("/admin/flash-sales").status_code == 403
