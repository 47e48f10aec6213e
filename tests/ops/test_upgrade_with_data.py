"""A database holding a previous release's data is migrated and the day goes on on it: the data
is made by the day itself, taken back to the previous release's schema along the migration
history (downgrade), then brought to head again, as a release does."""
from __future__ import annotations

from alembic import command
from sqlalchemy import text

from app.db import get_engine, reading
from app.manifest.jobs import build_manifests_job
from app.migrate import alembic_config, upgrade
from app.order.models import Order
from tests.conftest import login
from tests.flashsale.test_flash_basics import bound_buyer, drain_all, make_sale
from tests.manifest.test_manifests import paid_order

PREVIOUS_RELEASE = "0012_fans"


def test_the_day_goes_on_after_a_previous_release_database_is_migrated(app, client, admin, leader, product):
    point = leader[1]["pickup_point_id"]
    sku = product["skus"][0]["id"]
    buyer = bound_buyer(client, "long-time-buyer", point)
    before = paid_order(buyer, [sku], point)
    unpaid = buyer.post("/orders", json={"items": [{"sku_id": sku, "qty": 1}]}).get_json()
    sale = make_sale(admin, sku, stock=3, limit=3)
    res = buyer.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1}).get_json()["reservation_id"]
    drain_all(app)
    conv = buyer.post("/conversations", json={"leader_id": leader[1]["leader_id"]}).get_json()
    assert buyer.post(f"/conversations/{conv['id']}/messages", json={"type": "text", "text": "明天到吗"}).status_code == 201

    url = app.extensions["linli.settings"].database_url
    app.extensions["linli.engine"].dispose()
    command.downgrade(alembic_config(url), PREVIOUS_RELEASE)  # the previous release's schema, with the data
    with app.app_context(), get_engine().connect() as c:
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == PREVIOUS_RELEASE
    upgrade(url)  # the release

    # Everything is still there and the day goes on: orders, payment, flash, chat, manifests.
    assert buyer.get(f"/orders/{before['id']}").get_json()["status"] == "paid"
    assert buyer.get(f"/orders/{unpaid['id']}").get_json()["status"] == "pending_payment"
    assert buyer.get(f"/flash-sales/reservations/{res}").get_json()["status"] == "confirmed"
    after = paid_order(buyer, [sku], point)
    another = login(client, "new-buyer")
    assert another.put("/me/pickup-point", json={"pickup_point_id": point}).status_code == 200
    assert another.post(f"/flash-sales/{sale['id']}/purchase", json={"qty": 1}).status_code == 202
    drain_all(app)
    msgs = buyer.get(f"/conversations/{conv['id']}/messages").get_json()["items"]
    assert [m["text"] for m in msgs] == ["明天到吗"]
    with app.app_context():
        with reading() as s:
            day = s.get(Order, after["id"]).delivery_date
        built = build_manifests_job(day.isoformat())
    assert built["orders_shipped"] >= 2
