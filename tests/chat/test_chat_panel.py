"""The console's chat panel (app/web/static/chat.js) mounted on a minimal page under the console's
own CSP, in Debian's chromium at 360 px: inbox, a conversation, a reply, a live message over the
WebSocket, an announcement."""
from __future__ import annotations

import threading

import pytest
from flask import Response
from werkzeug.serving import make_server

from app.web.routes import _CSP
from tests.conftest import login, make_leader
from tests.web.test_leader_console import browser  # noqa: F401 - the fixture

PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"><title>chat</title></head>
<body><div id="chat-panel"></div>
<script src="/leader/static/chat.js" defer></script><script src="/chat-test/boot.js" defer></script></body></html>"""
BOOT = """LinliChat.mount(document.getElementById("chat-panel"),
  {token: new URLSearchParams(location.search).get("token"), apiBase: "/api/v1"});"""


@pytest.fixture
def chat_url(app):
    # Routes for the test page, added before the app serves its first request.
    def page():
        r = Response(PAGE, mimetype="text/html")
        r.headers["Content-Security-Policy"] = _CSP
        return r

    app.add_url_rule("/chat-test", "chat_test_page", page)
    app.add_url_rule("/chat-test/boot.js", "chat_test_boot", lambda: Response(BOOT, mimetype="text/javascript"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_chat_panel_answers_a_buyer_live_and_announces_on_a_phone_screen(chat_url, client, browser):  # noqa: F811
    from playwright.sync_api import expect

    admin = login(client, "panel-admin", admin=True)
    leader_api, approved = make_leader(client, admin)
    buyer = login(client, "panel-buyer", nickname="三楼王阿姨")
    buyer.put("/me/pickup-point", json={"pickup_point_id": approved["pickup_point_id"]})
    cid = buyer.post("/conversations", json={"leader_id": approved["leader_id"]}).get_json()["id"]
    buyer.post(f"/conversations/{cid}/messages", json={"type": "text", "text": "明天几点到?"})

    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{chat_url}/chat-test?token={leader_api.token}")
        conv = page.locator(".lc-conv").first
        expect(conv).to_contain_text("三楼王阿姨")
        expect(conv.locator(".lc-badge")).to_have_text("1")
        expect(page.locator(".lc-live")).to_have_text("实时")
        conv.click()
        expect(page.locator(".lc-msg")).to_have_count(1)
        expect(page.locator(".lc-inbox")).to_be_hidden()  # one column on a phone
        page.locator(".lc-reply textarea").fill("下午三点")
        page.locator(".lc-reply button").click()
        expect(page.locator(".lc-msg.lc-mine")).to_have_count(1)
        said = buyer.get(f"/conversations/{cid}/messages").get_json()["items"]
        assert [m["text"] for m in said] == ["明天几点到?", "下午三点"]
        # the buyer writes again: it arrives over the socket, no reload
        buyer.post(f"/conversations/{cid}/messages", json={"type": "text", "text": "好的谢谢"})
        expect(page.locator(".lc-msg").last).to_contain_text("好的谢谢")
        page.locator(".lc-announce textarea").fill("西瓜到了, 下午 4 点前来取")
        page.locator(".lc-announce button").click()
        expect(page.locator(".lc-status")).to_have_text("已发给 1 位顾客")
        expect(page.locator(".lc-msg").last).to_contain_text("西瓜到了")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert not errors, errors
    finally:
        context.close()
