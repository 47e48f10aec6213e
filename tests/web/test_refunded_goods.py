"""Refunded goods are never handed out (issue 23): after a shortage and after an after-sales
refund, every view of what to hand over — the console's orders list, its 提货名单, its pickup
success card in a real browser, and the manifest's JSON, CSV and PDF — shows what is left, marks
the refunded lines and leaves out an order refunded in full; the pickup list carries the buyer's
note and the PDF's times are in the business time zone."""
from __future__ import annotations

import io
import uuid

from pypdf import PdfReader

from tests.conftest import login, make_product
from tests.web.test_leader_console import (WAIT_MS, browser, live_url, make_leader_with_openid,  # noqa: F401
                                           paid_order, shots)

A, B = "麒麟西瓜 一个装约4斤", "麒麟西瓜 半个装"


def test_after_a_shortage_and_an_after_sales_refund_only_what_is_left_is_handed_out(
        app, client, admin, buyer, browser, live_url, shots):  # noqa: F811
    from playwright.sync_api import expect

    openid = f"rf-{uuid.uuid4().hex[:8]}"
    point = make_leader_with_openid(client, admin, openid, "王团长")
    leader = login(client, openid, nickname="王团长")
    product = make_product(admin, name="麒麟西瓜", skus=(("一个装约4斤", 1990, 50), ("半个装", 1090, 50)))
    a, b = (s["id"] for s in product["skus"])
    pid = point["pickup_point_id"]
    early = paid_order(buyer, pid, [(a, 2), (b, 1)])
    neighbour = login(client, f"n-{uuid.uuid4().hex[:6]}", nickname="楼上阿姨")
    late = paid_order(neighbour, pid, [(a, 3)])
    gone_buyer = login(client, f"g-{uuid.uuid4().hex[:6]}", nickname="隔壁大爷")
    gone = paid_order(gone_buyer, pid, [(b, 1)])
    day = early["delivery_date"]
    assert admin.post(f"/admin/manifests/{day}/build").get_json()["orders_shipped"] == 3
    assert leader.post(f"/leader/deliveries/{day}/receive").get_json() == {"arrived": 3}

    # A shortage takes one A of the latest-paid order holding A (the neighbour's 3 → 2 left) ...
    r = leader.post(f"/leader/deliveries/{day}/shortages", json={"lines": [{"sku_id": a, "missing_qty": 1}]})
    assert r.status_code == 200 and [x["order_id"] for x in r.get_json()["refunds"]] == [late["id"]]
    # ... the early buyer asks for their B back (after-sales; the leader approves it in the console) ...
    req = buyer.post(f"/orders/{early['id']}/after-sales",
                     json={"items": [{"sku_id": b, "qty": 1}], "reason": "商品损坏", "description": "压坏了",
                           "images": ["https://img.example.com/b.jpg"]}).get_json()
    assert req["status"] == "requested" and req["amount"] == 1090
    # ... and an operator refunds the third order's only line: nothing of it is left.
    assert admin.post(f"/admin/orders/{gone['id']}/refund", json={"lines": [{"sku_id": b, "qty": 1}]}) \
        .get_json()["status"] == "refunded"

    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    uncaught = []
    page.on("pageerror", lambda e: uncaught.append(str(e)))
    try:
        page.goto(f"{live_url}/leader?date={day}")
        page.fill("#openid", openid)
        page.click("#login-submit")
        expect(page.locator("#who-name")).to_contain_text("王团长")
        # The leader's after-sales queue: approve the early buyer's request with a note.
        page.click('.tab[data-tab="aftersales"]')
        row = page.locator(f'#as-table tr[data-after-sale-id="{req["id"]}"]')
        expect(row).to_contain_text("商品损坏")
        expect(row).to_contain_text("¥10.90")
        row.locator("input.as-note").fill("换不了，退款")
        row.locator("button.as-approve").click()
        expect(row).to_have_count(0)  # no longer waiting for me
        page.select_option("#as-status", "refunded")
        expect(page.locator(f'#as-table tr[data-after-sale-id="{req["id"]}"]')).to_contain_text("已退款")
        shots(page, "refunded-goods-aftersales", full_page=True)
        done = buyer.get(f"/after-sales/{req['id']}").get_json()
        assert done["status"] == "refunded" and done["log"][1]["note"] == "换不了，退款"
        page.click('.tab[data-tab="orders"]')
        # The orders list: what is left per line, refunded lines marked.
        row = page.locator(f'#orders-table tr[data-order-id="{late["id"]}"]')
        expect(row).to_contain_text(f"{A} × 2")
        expect(row).to_contain_text("已退款 1 件")
        early_row = page.locator(f'#orders-table tr[data-order-id="{early["id"]}"]')
        expect(early_row.locator(".line.refunded.all")).to_contain_text("已全部退款 1 件，勿发")
        expect(page.locator(f'#orders-table tr[data-order-id="{gone["id"]}"]')).to_have_count(0)
        # The 提货名单: the order refunded in full is not on it; the buyer's note is.
        page.click('.tab[data-tab="manifest"]')
        expect(page.locator("#pickups-table tbody tr")).to_have_count(2)
        pick = page.locator(f'#pickups-table tr[data-order-id="{late["id"]}"]')
        expect(pick).to_contain_text(f"{A} × 2")
        expect(pick).to_contain_text("已退款 1 件")
        expect(pick).to_contain_text("放门口就行")
        shots(page, "refunded-goods-manifest", full_page=True)
        # The pickup success card says what to hand over, and what not to.
        page.click('.tab[data-tab="pickup"]')
        page.fill("#pickup-code", early["pickup_code"])
        page.click("#pickup-submit")
        card = page.locator(f'#pickup-result .success[data-order-id="{early["id"]}"]')
        expect(card).to_contain_text("核销成功")
        expect(card.locator(".refund-warning")).to_be_visible()
        expect(card).to_contain_text(f"{A} × 2")
        expect(card.locator(f'.line.refunded.all[data-sku-id="{b}"]')).to_contain_text("勿发")
        shots(page, "refunded-goods-pickup", full_page=True)
        assert uncaught == []
    finally:
        context.close()

    # Every manifest format: JSON ...
    m = leader.get(f"/leader/manifests/{day}").get_json()
    by_order = {p["order_id"]: p for p in m["pickups"]}
    assert set(by_order) == {early["id"], late["id"]}
    assert [(i["sku_id"], i["qty"], i["refunded_qty"], i["refunded"]) for i in by_order[early["id"]]["items"]] == [
        (a, 2, 0, False), (b, 0, 1, True)]
    assert [(i["qty"], i["ordered_qty"], i["refunded_qty"]) for i in by_order[late["id"]]["items"]] == [(3 - 1, 3, 1)]
    assert by_order[early["id"]]["note"] == "放门口就行"
    # ... CSV ...
    text = leader.get(f"/leader/manifests/{day}?format=csv").data.decode("utf-8-sig")
    assert f"{late['id']},楼上阿姨,,{a},{A},2,1,已退款 1 件（原 3 件）,放门口就行\r\n" in text
    assert f"{early['id']},{buyer.user['nickname']},,{b},{B},0,1,已全部退款，勿发,放门口就行\r\n" in text
    assert "隔壁大爷" not in text
    # ... and PDF, its times in the business time zone (Asia/Shanghai).
    pdf = "".join(p.extract_text() for p in PdfReader(io.BytesIO(
        leader.get(f"/leader/manifests/{day}?format=pdf").data)).pages)
    assert "已退款 1 件" in pdf and "已全部退款" in pdf and "放门口就行" in pdf and "隔壁大爷" not in pdf
    assert "Asia/Shanghai" in pdf and "+00:00" not in pdf

