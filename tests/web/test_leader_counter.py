"""The console's 收款 tab on a 360 px phone in Debian's chromium: the leader types a buyer's wallet
pay code and an amount, the buyer's wallet pays, the sale is listed, and refunding it (same day)
puts the money back."""
from __future__ import annotations

import uuid

from tests.conftest import login
from tests.web.test_leader_console import WAIT_MS, browser, live_url, make_leader_with_openid, shots, yuan  # noqa: F401
from tests.web.test_leader_day import PHONE


def test_a_leader_charges_a_pay_code_at_the_counter_on_a_phone_and_refunds_it(app, client, admin, browser,  # noqa: F811
                                                                                live_url, shots):  # noqa: F811
    from playwright.sync_api import expect

    openid = f"till-{uuid.uuid4().hex[:8]}"
    make_leader_with_openid(client, admin, openid, "王团长")
    buyer = login(client, f"w-{uuid.uuid4().hex[:6]}", nickname="楼下阿姨")
    package = admin.post("/admin/recharge-packages", json={"name": "充100送10", "pay_amount": 10000,
                                                           "bonus_amount": 1000}).get_json()
    assert buyer.post("/me/wallet/recharges", json={"package_id": package["id"]}).status_code == 201
    code = buyer.post("/me/wallet/pay-code").get_json()["code"]

    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport=PHONE,
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    uncaught = []
    page.on("pageerror", lambda e: uncaught.append(str(e)))
    page.on("dialog", lambda d: d.accept())
    try:
        page.goto(f"{live_url}/leader")
        page.fill("#openid", openid)
        page.click("#login-submit")
        expect(page.locator("#who-name")).to_contain_text("王团长")
        page.click('.tab[data-tab="counter"]')
        expect(page.locator("#counter-empty")).to_be_visible()

        # A wrong code is refused in words a leader reads.
        page.fill("#counter-code", "660000000000000000")
        page.fill("#counter-amount", "12.5")
        page.click("#counter-submit")
        expect(page.locator('#counter-result .problem[data-code="unknown_code"]')).to_contain_text("付款码无效")

        # The buyer's code, typed with the spaces the mini-program shows between groups.
        page.fill("#counter-code", " ".join([code[:4], code[4:8], code[8:12], code[12:]]))
        page.fill("#counter-amount", "12.5")
        page.fill("#counter-note", "苹果两斤")
        page.click("#counter-submit")
        done = page.locator("#counter-result .success")
        expect(done).to_contain_text("收款成功 ¥12.50")
        expect(done).to_contain_text("楼下阿姨")
        expect(done).to_contain_text(yuan(11000 - 1250))
        row = page.locator("#counter-table tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("苹果两斤")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shots(page, "counter-1-charged-phone", full_page=True)
        assert buyer.get("/me/wallet").get_json()["balance"] == 11000 - 1250

        # The same code again: used.
        page.fill("#counter-code", code)
        page.fill("#counter-amount", "1")
        page.click("#counter-submit")
        expect(page.locator('#counter-result .problem[data-code="code_used"]')).to_be_visible()

        # Refund it (the confirm dialog accepted): back in the wallet, the row says so.
        row.locator("button.refund").click()
        expect(row).to_contain_text("已退款")
        assert buyer.get("/me/wallet").get_json()["balance"] == 11000
        shots(page, "counter-2-refunded-phone", full_page=True)
        assert uncaught == []
    finally:
        context.close()
