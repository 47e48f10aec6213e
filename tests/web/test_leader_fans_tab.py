"""The console's 粉丝 tab lists my fans by segment, and the 消息 tab's announcement goes to a chosen
segment (a real browser against the test's app)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from app.db import transaction
from app.order.models import Order
from tests.conftest import login
from tests.web.test_leader_console import (browser, live_url, log_in, make_leader_with_openid, page,  # noqa: F401
                                           paid_order, shots, yuan)


def test_the_fans_tab_lists_my_fans_by_segment_and_a_broadcast_picks_one(app, client, admin, product, live_url,
                                                                         page, shots):  # noqa: F811
    from playwright.sync_api import expect

    approved = make_leader_with_openid(client, admin, "fans-leader", "王芳")
    point = approved["pickup_point_id"]
    regular, lapsed, newcomer = (login(client, f"fan-{n}", nickname=n) for n in ("老顾客", "好久没来", "新邻居"))
    for b in (regular, lapsed, newcomer):
        assert b.put("/me/pickup-point", json={"pickup_point_id": point}).status_code == 200
    sku = product["skus"][0]
    paid_order(regular, point, [(sku["id"], 2)])
    old = paid_order(lapsed, point, [(sku["id"], 1)])
    with app.app_context(), transaction() as s:
        s.execute(update(Order).where(Order.id == old["id"])
                  .values(created_at=datetime.now(timezone.utc) - timedelta(days=45)))

    log_in(page, live_url, "fans-leader")
    page.click('.tab[data-tab="fans"]')
    rows = page.locator("#fans-table tbody tr")
    expect(rows).to_have_count(3)
    regular_row = page.locator(f'#fans-table tr[data-user-id="{regular.user["id"]}"]')
    expect(regular_row).to_contain_text("老顾客")
    expect(regular_row).to_contain_text(yuan(2 * sku["price"]))
    expect(page.locator(f'#fans-table tr[data-user-id="{newcomer.user["id"]}"]')).to_contain_text("未下单")

    page.select_option("#fans-segment", "lapsed")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("好久没来")
    page.select_option("#fans-segment", "new")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("新邻居")
    shots(page, "fans-tab")

    page.click('.tab[data-tab="messages"]')
    page.fill(".lc-announce textarea", "好久不见, 新到荔枝")
    page.select_option(".lc-announce select", "lapsed")
    page.click(".lc-announce button[type=submit]")
    expect(page.locator(".lc-announce .lc-status")).to_contain_text("已发给 1 位顾客")
    assert [c["last_message"]["text"] for c in lapsed.get("/conversations").get_json()["items"]] == ["好久不见, 新到荔枝"]
    assert regular.get("/conversations").get_json()["items"] == []
    assert page.uncaught == []
