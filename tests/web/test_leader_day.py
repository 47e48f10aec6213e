"""The leader's whole day in the console, on a 360 px phone in Debian's chromium: sign in, see the
night's manifest, download it, confirm the goods arrived with a shortage and see the refund, hand
an order over against its code, and open the messages tab."""
from __future__ import annotations

import uuid

from tests.conftest import login, make_product
from tests.web.test_leader_console import (WAIT_MS, browser, live_url, make_leader_with_openid,  # noqa: F401
                                           paid_order, shots, yuan)

PHONE = {"width": 360, "height": 740}


def test_a_leaders_day_on_a_phone_manifest_shortage_refund_and_pickup(app, client, admin, buyer, browser,  # noqa: F811
                                                                      live_url, shots):  # noqa: F811
    from playwright.sync_api import expect

    # Given a point with two paid orders for a day, the later-paid one holding 1 × A.
    openid = f"day-{uuid.uuid4().hex[:8]}"
    point = make_leader_with_openid(client, admin, openid, "王团长")
    product = make_product(admin, name="麒麟西瓜", skus=(("一个装约4斤", 1990, 50), ("半个装", 1090, 50)))
    a, b = (s["id"] for s in product["skus"])
    early = paid_order(buyer, point["pickup_point_id"], [(a, 2), (b, 1)])
    neighbour = login(client, f"n-{uuid.uuid4().hex[:6]}", nickname="楼上阿姨")
    late = paid_order(neighbour, point["pickup_point_id"], [(a, 1)])
    day = early["delivery_date"]
    # and the night's build (the operators' endpoint runs the nightly job)
    built = admin.post(f"/admin/manifests/{day}/build")
    assert built.status_code == 200 and built.get_json()["orders_shipped"] == 2

    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport=PHONE,
                                  device_scale_factor=2, is_mobile=True, has_touch=True, accept_downloads=True)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    uncaught = []
    page.on("pageerror", lambda e: uncaught.append(str(e)))

    def no_overflow(where: str) -> None:
        width = page.evaluate("document.documentElement.scrollWidth")
        wide = page.evaluate("""[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 361
            && e.getClientRects().length).map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 8)""")
        assert width <= 360, (where, width, wide)

    try:
        # When the leader signs in and opens the day's manifest.
        page.goto(f"{live_url}/leader?date={day}")
        page.fill("#openid", openid)
        page.click("#login-submit")
        expect(page.locator("#who-name")).to_contain_text("王团长")
        page.click('.tab[data-tab="manifest"]')
        expect(page.locator("#manifest-meta")).to_contain_text("第 1 版")
        receiving = page.locator("#receiving-table")
        expect(receiving.locator(f'tr[data-sku-id="{a}"]')).to_contain_text("麒麟西瓜 一个装约4斤")
        expect(receiving.locator(f'tr[data-sku-id="{a}"] td.num').first).to_have_text("3")
        expect(page.locator("#pickups-table tbody tr")).to_have_count(2)
        expect(page.locator(f'#pickups-table tr[data-order-id="{late["id"]}"]')).to_contain_text("楼上阿姨")
        no_overflow("manifest")
        shots(page, "day-1-manifest-phone", full_page=True)

        # The CSV downloads (with the token, as a file a spreadsheet reads).
        with page.expect_download() as download:
            page.click("#manifest-csv")
        path = download.value.path()
        text = open(path, encoding="utf-8-sig").read()
        assert download.value.suggested_filename.endswith(".csv") and "麒麟西瓜" in text and "楼上阿姨" in text
        # The PDF opens in a new window, to print.
        with context.expect_page() as popup:
            page.click("#manifest-pdf")
        assert popup.value.url.startswith("blob:")
        popup.value.close()

        # Goods arrived, one unit of A short: asked first, then the later-paid order is refunded.
        page.fill(f'#receiving-table input.missing[data-sku-id="{a}"]', "1")
        asked = []

        def accept(dialog):
            asked.append(dialog.message)
            dialog.accept()

        page.once("dialog", accept)
        page.click("#confirm-arrival")
        result = page.locator("#shortage-result")
        expect(result).to_contain_text("2 个订单变为「已到货」")
        expect(result.locator(f'tr[data-order-id="{late["id"]}"]')).to_contain_text(yuan(1990))
        expect(result).to_contain_text("1 个订单共退款 ¥19.90")
        assert asked and "缺 1" in asked[0], asked
        assert neighbour.get(f"/orders/{late['id']}").get_json()["status"] == "refunded"
        assert buyer.get(f"/orders/{early['id']}").get_json()["status"] == "arrived"
        no_overflow("shortage")
        shots(page, "day-2-shortage-refund-phone", full_page=True)

        # The same shortage confirmed again refunds nothing more.
        page.once("dialog", lambda d: d.accept())
        page.click("#confirm-arrival")
        expect(result).to_contain_text("没有新增退款")

        # The buyer whose order kept its goods picks it up against the code, typed.
        page.click('.tab[data-tab="pickup"]')
        page.fill("#pickup-code", early["pickup_code"])
        page.click("#pickup-submit")
        expect(page.locator(f'#pickup-result .success[data-order-id="{early["id"]}"]')).to_contain_text("核销成功")
        no_overflow("pickup")
        shots(page, "day-3-pickup-phone", full_page=True)

        # Commissions and messages open on the phone too, without breaking the page.
        page.click('.tab[data-tab="commissions"]')
        expect(page.locator(f'#comm-table tr[data-order-id="{early["id"]}"]')).to_contain_text(
            yuan(round(early["total"] * 0.10)))
        no_overflow("commissions")
        page.click('.tab[data-tab="messages"]')
        expect(page.locator('.tab-panel[data-panel="messages"]')).to_be_visible()
        no_overflow("messages")
        page.click('.tab[data-tab="orders"]')
        expect(page.locator(f'#orders-table tr[data-order-id="{early["id"]}"]')).to_contain_text("已提货")
        no_overflow("orders")
        shots(page, "day-4-orders-phone", full_page=True)
        assert uncaught == []
    finally:
        context.close()


def test_without_chat_js_the_messages_tab_says_so_and_the_page_asks_for_no_missing_script(client):
    html = client.get("/leader").get_data(as_text=True)
    assert 'id="chat-panel"' in html
    has_chat = client.application.extensions["linli.web_assets"].get("chat.js") is not None
    assert ("/leader/static/chat.js" in html) == has_chat
