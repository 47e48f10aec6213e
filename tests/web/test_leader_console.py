"""The leader console at /leader: served as plain HTML outside the API document, and driven end to
end in Debian's chromium through playwright-python."""
from __future__ import annotations

import os
import re
import shutil
import threading
import uuid
from datetime import date
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app.db import transaction
from app.order import transitions as order_transitions
from tests.conftest import login, make_product

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
WAIT_MS = 10_000  # every wait in the browser is bounded by this


# ---- without a browser ----------------------------------------------------------------------

def test_the_leader_console_is_served_as_an_html_page(client):
    r = client.get("/leader")
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert "团长工作台" in html and 'lang="zh-CN"' in html
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert client.get("/leader/").status_code == 200


def test_the_console_loads_its_script_and_styles_from_this_server_only(client):
    html = client.get("/leader").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    local = [a for a in assets if not a.startswith("data:")]
    assert all(a.startswith("/leader/static/") for a in local), local
    kinds = {}
    for url in local:
        r = client.get(url)
        assert r.status_code == 200, url
        kinds[r.mimetype] = kinds.get(r.mimetype, "") + r.get_data(as_text=True)
    assert "/auth/dev-login" in kinds["text/javascript"] and "LinliChat" in kinds["text/javascript"]
    assert "@media print" in kinds["text/css"]


def test_without_dev_login_the_console_asks_for_a_token_instead(make_settings):
    from app import create_app

    prod_like = create_app(make_settings(dev_login=False))
    html = prod_like.test_client().get("/leader").get_data(as_text=True)
    prod_like.extensions["linli.engine"].dispose()
    assert 'data-dev-login="0"' in html and 'data-timezone="Asia/Shanghai"' in html


def test_the_sign_in_placeholder_names_the_demo_leader_that_seed_demo_loads(client):
    from app.demo import LEADERS

    html = client.get("/leader").get_data(as_text=True)
    placeholder = re.search(r'id="openid"[^>]*placeholder="([^"]*)"', html, re.S).group(1)
    assert LEADERS[0][0] in placeholder and LEADERS[0][1] in placeholder, placeholder


def test_the_console_is_not_part_of_the_api_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert not [p for p in paths if not p.startswith("/api/v1/")]


# ---- in a real browser ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: `apt-get install -y chromium` (make test installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright-python is not installed "
                                   "(pip install -e '.[test]')")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, timeout=30_000)
        sync_api.expect.set_options(timeout=WAIT_MS)
        yield b
        b.close()


@pytest.fixture
def live_url(app):
    """The test's own app on a loopback port, so the browser and the test share one database."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai",
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    context.set_default_navigation_timeout(WAIT_MS)
    pg = context.new_page()
    pg.uncaught = []
    pg.on("pageerror", lambda e: pg.uncaught.append(str(e)))
    yield pg
    context.close()


@pytest.fixture
def shots(tmp_path):
    """Screenshots go to tmp_path, and also to $LINLI_SCREENSHOT_DIR when set (to look at them)."""
    extra = os.environ.get("LINLI_SCREENSHOT_DIR")

    def save(page, name: str, **kw) -> Path:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), timeout=WAIT_MS, **kw)
        assert path.stat().st_size > 5_000  # a blank page compresses to far less
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(extra) / path.name)
        return path
    return save


def make_leader_with_openid(client, admin, openid: str, nickname: str) -> dict:
    api = login(client, openid, nickname=nickname)
    r = api.post("/leader-applications", json={"real_name": "王芳", "phone": "13900000000",
                                                "pickup_point": {"name": "幸福里自提点", "address": "幸福里 3 幢",
                                                                 "lat": 30.2741, "lng": 120.1551}})
    assert r.status_code == 201, r.get_json()
    r = admin.post(f"/admin/leader-applications/{r.get_json()['id']}/approve")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def paid_order(buyer, point_id: int, items: list[tuple[int, int]]) -> dict:
    r = buyer.post("/orders", json={"items": [{"sku_id": s, "qty": q} for s, q in items],
                                    "pickup_point_id": point_id, "note": "放门口就行"})
    assert r.status_code == 201, r.get_json()
    r = buyer.post(f"/orders/{r.get_json()['id']}/pay")
    assert r.status_code == 200, r.get_json()
    return r.get_json()["order"]


def ship(app, day: str) -> list[int]:
    with app.app_context(), transaction() as s:
        return order_transitions.ship_paid_orders(s, delivery_date=date.fromisoformat(day))


def yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


def log_in(page, live_url: str, openid: str) -> None:
    page.goto(f"{live_url}/leader")
    page.fill("#openid", openid)
    page.click("#login-submit")


def test_a_leader_receives_the_goods_and_hands_an_order_over_in_the_browser(
        app, client, admin, buyer, live_url, page, shots):
    from playwright.sync_api import expect

    # Given a leader's point with one shipped order and one paid later (not on the truck).
    openid = f"console-{uuid.uuid4().hex[:8]}"
    point = make_leader_with_openid(client, admin, openid, "王团长")
    product = make_product(admin, name="麒麟西瓜", skus=(("一个装约4斤", 1990, 50), ("半个装", 1090, 50)))
    s1, s2 = (s["id"] for s in product["skus"])
    shipped = paid_order(buyer, point["pickup_point_id"], [(s1, 2), (s2, 1)])
    day = shipped["delivery_date"]
    assert ship(app, day) == [shipped["id"]]
    neighbour = login(client, f"b-{uuid.uuid4().hex[:6]}", nickname="楼上阿姨")
    late = paid_order(neighbour, point["pickup_point_id"], [(s1, 1)])
    assert late["delivery_date"] == day
    leader_api = login(client, openid, nickname="王团长")
    summary = leader_api.get(f"/leader/summary?delivery_date={day}").get_json()

    # When the leader logs in and picks the delivery date.
    log_in(page, live_url, openid)
    expect(page.locator("#console-view")).to_be_visible()
    expect(page.locator("#who-name")).to_contain_text("王团长")
    page.fill("#date", day)
    row = page.locator(f'#orders-table tr[data-order-id="{shipped["id"]}"]')
    expect(row).to_contain_text("小邻居")
    expect(row).to_contain_text("麒麟西瓜 一个装约4斤 × 2")
    expect(row).to_contain_text("已发货")
    expect(row).to_contain_text(yuan(shipped["total"]))
    expect(page.locator(f'#orders-table tr[data-order-id="{late["id"]}"]')).to_contain_text("已支付")
    expect(page.locator("#stat-count")).to_have_text("2")
    expect(page.locator("#stat-commission")).to_have_text(yuan(summary["commission_expected"]))
    expect(page.locator("#lines-table")).to_contain_text("麒麟西瓜 半个装")
    assert f"date={day}" in page.url
    shots(page, "1-orders", full_page=True)

    # "Goods arrived" asks first: dismissed, nothing happens.
    asked = []

    def dismiss(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.click("#receive")
    expect(page.locator("#receive")).to_be_enabled()
    assert asked and day in asked[0] and "1 个已发货订单" in asked[0], asked
    expect(row).to_contain_text("已发货")
    assert buyer.get(f"/orders/{shipped['id']}").get_json()["status"] == "shipped"

    # Accepted, it turns the shipped order into arrived.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#receive")
    expect(page.locator("#flash")).to_contain_text("1 个订单")
    expect(row).to_contain_text("已到货")
    expect(page.locator("#stat-waiting")).to_have_text("1")

    # The printed pickup list is the day's orders, with nothing of the screen's chrome.
    page.emulate_media(media="print")
    expect(page.locator("#print-sheet")).to_be_visible()
    expect(page.locator("#console-view")).to_be_hidden()
    expect(page.locator("#print-orders tbody tr")).to_have_count(2)
    expect(page.locator("#print-orders")).to_contain_text("楼上阿姨")
    expect(page.locator("#print-date")).to_have_text(day)
    shots(page, "2-print", full_page=True)
    page.emulate_media(media="screen")
    expect(page.locator("#print-sheet")).to_be_hidden()

    # Pickup verification: an unknown code, an order not yet arrived, then the right one.
    page.click('.tab[data-tab="pickup"]')
    codes = {shipped["pickup_code"], late["pickup_code"]}
    unknown = next(c for c in ("000000", "999999", "123456") if c not in codes)
    page.fill("#pickup-code", unknown)
    page.click("#pickup-submit")
    expect(page.locator('#pickup-result .problem[data-code="unknown_code"]')).to_contain_text("提货码不存在")

    page.fill("#pickup-code", late["pickup_code"])
    page.click("#pickup-submit")
    problem = page.locator('#pickup-result .problem[data-code="invalid_state"]')
    expect(problem).to_contain_text("不能提货")
    expect(problem).to_contain_text("已支付")
    expect(problem).to_contain_text("尚未发货")

    page.fill("#pickup-code", shipped["pickup_code"])
    page.click("#pickup-submit")
    success = page.locator(f'#pickup-result .success[data-order-id="{shipped["id"]}"]')
    expect(success).to_contain_text("核销成功")
    expect(success).to_contain_text("小邻居")
    expect(success).to_contain_text("已提货")
    shots(page, "3-pickup", full_page=True)

    # The same code twice is refused: the order was already handed over.
    page.fill("#pickup-code", shipped["pickup_code"])
    page.click("#pickup-submit")
    expect(page.locator('#pickup-result .problem[data-code="invalid_state"]')).to_contain_text("请勿重复发放")
    shots(page, "3b-pickup-refused")

    # And the API agrees.
    assert buyer.get(f"/orders/{shipped['id']}").get_json()["status"] == "picked_up"
    assert neighbour.get(f"/orders/{late['id']}").get_json()["status"] == "paid"

    # The commission for the handed-over order shows up with its totals.
    commissions = leader_api.get("/leader/commissions").get_json()
    page.click('.tab[data-tab="commissions"]')
    entry = page.locator(f'#comm-table tr[data-order-id="{shipped["id"]}"]')
    expect(entry).to_contain_text(yuan(commissions["items"][0]["amount"]))
    expect(entry).to_contain_text("待结算")
    expect(page.locator("#comm-pending")).to_have_text(yuan(commissions["totals"]["pending"]))
    shots(page, "4-commissions", full_page=True)

    page.click('.tab[data-tab="orders"]')
    expect(row).to_contain_text("已提货")
    assert page.uncaught == []


def test_a_buyer_who_is_not_a_leader_is_told_so(app, client, buyer, live_url, page, shots):
    from playwright.sync_api import expect

    log_in(page, live_url, "buyer-1")  # the `buyer` fixture's openid
    expect(page.locator("#login-error")).to_contain_text("不是团长")
    expect(page.locator("#login-error")).to_contain_text("小邻居")
    expect(page.locator("#console-view")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0
    shots(page, "5-not-a-leader")
    assert page.uncaught == []


def test_the_page_keeps_working_when_the_api_fails(app, client, admin, live_url, page, shots):
    from playwright.sync_api import expect

    openid = f"console-{uuid.uuid4().hex[:8]}"
    make_leader_with_openid(client, admin, openid, "王团长")
    # A proxy's HTML error page for the summary, a dropped connection for the orders.
    page.route("**/api/v1/leader/summary*", lambda route: route.fulfill(
        status=502, content_type="text/html", body="<html><body>Bad Gateway</body></html>"))
    page.route("**/api/v1/leader/orders*", lambda route: route.abort("connectionreset"))
    page.route("**/api/v1/leader/commissions*", lambda route: route.fulfill(
        status=500, content_type="application/problem+json",
        body='{"status": 500, "code": "internal_error", "title": "Internal Server Error", '
             '"detail": "An unexpected error occurred; it has been logged."}'))

    log_in(page, live_url, openid)
    expect(page.locator("#summary-error")).to_contain_text("http_502")
    expect(page.locator("#orders-error")).to_contain_text("网络异常")
    expect(page.locator("#stat-count")).to_have_text("–")
    page.click('.tab[data-tab="commissions"]')
    expect(page.locator("#comm-error")).to_contain_text("internal_error")

    # Once the API is back, a refresh shows the (empty) day.
    page.unroute("**/api/v1/leader/summary*")
    page.unroute("**/api/v1/leader/orders*")
    page.click('.tab[data-tab="orders"]')
    page.click("#refresh")
    expect(page.locator("#stat-count")).to_have_text("0")
    expect(page.locator("#orders-empty")).to_be_visible()
    expect(page.locator("#summary-error")).to_be_hidden()
    shots(page, "6-recovered")

    # A token that stops working sends the leader back to the login form.
    page.evaluate("sessionStorage.setItem('linli.leader.token', 'not-a-jwt')")
    page.click("#refresh")
    expect(page.locator("#login-view")).to_be_visible()
    expect(page.locator("#login-error")).to_contain_text("登录已失效")
    assert page.uncaught == []


def test_the_demo_leader_named_in_the_placeholder_can_sign_in(app, live_url, page):
    from playwright.sync_api import expect

    from app.demo import seed

    with app.app_context():
        seed()
    page.goto(f"{live_url}/leader")
    placeholder = page.get_attribute("#openid", "placeholder")
    openid = re.search(r"[a-z0-9-]+", placeholder).group()
    page.fill("#openid", openid)
    page.click("#login-submit")
    expect(page.locator("#console-view")).to_be_visible()
    expect(page.locator("#who-name")).to_contain_text("王姐")
    assert page.uncaught == []


def test_the_stats_and_the_order_list_count_the_same_orders(app, client, admin, buyer, live_url, page):
    from playwright.sync_api import expect

    # Given a day with paid orders and the ones the summary does not count: unpaid, cancelled, refunded.
    openid = f"console-{uuid.uuid4().hex[:8]}"
    point = make_leader_with_openid(client, admin, openid, "王团长")
    sku = make_product(admin, skus=(("一个装", 1990, 50),))["skus"][0]["id"]
    pid = point["pickup_point_id"]
    paid = [paid_order(buyer, pid, [(sku, 1)]) for _ in range(2)]
    refunded = paid_order(buyer, pid, [(sku, 1)])
    assert buyer.post(f"/orders/{refunded['id']}/cancel").get_json()["status"] == "refunded"
    unpaid = buyer.post("/orders", json={"items": [{"sku_id": sku, "qty": 1}], "pickup_point_id": pid}).get_json()
    cancelled = buyer.post("/orders", json={"items": [{"sku_id": sku, "qty": 1}], "pickup_point_id": pid}).get_json()
    assert buyer.post(f"/orders/{cancelled['id']}/cancel").get_json()["status"] == "cancelled"
    day = paid[0]["delivery_date"]
    assert {o["delivery_date"] for o in (unpaid, cancelled, refunded)} == {day}
    summary = login(client, openid).get(f"/leader/summary?delivery_date={day}").get_json()
    assert summary["order_count"] == 2

    # When the leader opens the day, the stats and the list (its default view, its count, the
    # printed list) count the same two orders.
    log_in(page, live_url, openid)
    page.fill("#date", day)
    expect(page.locator("#stat-count")).to_have_text("2")
    expect(page.locator("#orders-table tbody tr")).to_have_count(2)
    expect(page.locator("#orders-count")).to_have_text("（2 单）")
    expect(page.locator("#print-orders tbody tr")).to_have_count(2)
    shown = {int(x) for x in page.locator("#orders-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.orderId)")}
    assert shown == {o["id"] for o in paid}

    # Every order of the day is one choice away, and says how it relates to the stats.
    page.select_option("#status-filter", "all")
    expect(page.locator("#orders-table tbody tr")).to_have_count(5)
    expect(page.locator("#orders-count")).to_contain_text("其中有效订单 2 单")
    page.select_option("#status-filter", "pending_payment")
    expect(page.locator(f'#orders-table tr[data-order-id="{unpaid["id"]}"]')).to_contain_text("待支付")
    assert page.uncaught == []


def test_the_console_fits_a_360_px_phone(app, client, admin, buyer, browser, live_url, shots):
    from playwright.sync_api import expect

    openid = f"console-{uuid.uuid4().hex[:8]}"
    # A long nickname, with a Latin run that has no break opportunity.
    point = make_leader_with_openid(client, admin, openid, "幸福里小区东门王阿姨团长Wang.Fang.Xingfuli.East.Gate")
    product = make_product(admin, name="千岛湖有机鱼头（冷链直达）", skus=(("约2斤装 新鲜现杀 顺丰冷链", 4590, 50),))
    order = paid_order(buyer, point["pickup_point_id"], [(product["skus"][0]["id"], 3)])
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 360, "height": 740},
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        def overflow() -> int:
            return page.evaluate("document.documentElement.scrollWidth")

        page.goto(f"{live_url}/leader")
        expect(page.locator("#login-view")).to_be_visible()
        assert overflow() <= 360
        shots(page, "7-phone-login")
        page.fill("#openid", openid)
        page.click("#login-submit")
        expect(page.locator("#who-name")).to_contain_text("王阿姨团长")
        page.fill("#date", order["delivery_date"])
        expect(page.locator(f'#orders-table tr[data-order-id="{order["id"]}"]')).to_be_visible()
        header = page.locator("header.topbar").bounding_box()
        assert header["width"] <= 360
        assert header["height"] <= 60, header  # one row: neither the title nor the button wraps
        for selector in ("header.topbar .brand", "#who-name", "#logout"):
            box = page.locator(selector).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 360, (selector, box)
        shots(page, "8-phone-orders", full_page=True)
        wide = page.evaluate("""[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 360
            && e.getClientRects().length).map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 8)""")
        assert overflow() <= 360, wide
        for tab in ("pickup", "commissions"):
            page.click(f'.tab[data-tab="{tab}"]')
            assert overflow() <= 360, tab
        shots(page, "9-phone-commissions", full_page=True)
    finally:
        context.close()
