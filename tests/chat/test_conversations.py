"""Conversations and messages over HTTP (in-process app, SQLite and PostgreSQL)."""
from __future__ import annotations

import threading

import pytest
from sqlmodel import select

from app.chat.models import Message
from app.db import transaction
from app.notify.models import Notification
from tests.conftest import login, make_leader


def open_conv(buyer, leader_id):
    r = buyer.post("/conversations", json={"leader_id": leader_id})
    assert r.status_code in (200, 201), r.get_json()
    return r


def say(api, conv_id, text="你好"):
    r = api.post(f"/conversations/{conv_id}/messages", json={"type": "text", "text": text})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_a_buyer_has_one_conversation_per_leader(client, admin, leader, buyer):
    leader_api, approved = leader
    first = open_conv(buyer, approved["leader_id"])
    again = open_conv(buyer, approved["leader_id"])
    assert (first.status_code, again.status_code) == (201, 200)
    body = first.get_json()
    assert again.get_json()["id"] == body["id"]
    assert body["buyer"]["user_id"] == buyer.user["id"] and body["leader"]["leader_id"] == approved["leader_id"]
    assert buyer.post("/conversations", json={"leader_id": 999999}).get_json()["code"] == "leader_not_found"
    assert leader_api.post("/conversations", json={"leader_id": approved["leader_id"]}).status_code == 409


def test_messages_take_consecutive_seqs_and_page_both_ways(client, leader, buyer):
    leader_api, approved = leader
    cid = open_conv(buyer, approved["leader_id"]).get_json()["id"]
    sent = [say(buyer if i % 2 else leader_api, cid, f"第{i}条") for i in range(7)]
    assert [m["seq"] for m in sent] == list(range(1, 8))
    newest = buyer.get(f"/conversations/{cid}/messages?limit=3").get_json()
    assert [m["seq"] for m in newest["items"]] == [5, 6, 7] and newest["has_more"]
    older = buyer.get(f"/conversations/{cid}/messages?before_seq=5&limit=3").get_json()
    assert [m["seq"] for m in older["items"]] == [2, 3, 4]
    after = leader_api.get(f"/conversations/{cid}/messages?after_seq=4&limit=2").get_json()
    assert [m["seq"] for m in after["items"]] == [5, 6] and after["has_more"]
    assert leader_api.get(f"/conversations/{cid}/messages?after_seq=7").get_json() == {
        "items": [], "has_more": False, "next_cursor": None}


def test_the_inbox_is_newest_first_with_unread_counts_and_read_receipts(client, admin, buyer):
    (l1, a1), (l2, a2) = make_leader(client, admin), make_leader(client, admin)
    c1 = open_conv(buyer, a1["leader_id"]).get_json()["id"]
    c2 = open_conv(buyer, a2["leader_id"]).get_json()["id"]
    say(buyer, c1, "一")
    say(buyer, c2, "二")
    say(l1, c1, "收到")
    say(l1, c1, "明天到")
    inbox = buyer.get("/conversations").get_json()["items"]
    assert [(c["id"], c["unread_count"]) for c in inbox] == [(c1, 2), (c2, 0)]
    assert inbox[0]["last_message"]["text"] == "明天到" and inbox[0]["other_party"]["leader_id"] == a1["leader_id"]
    leader_inbox = l1.get("/conversations").get_json()["items"]
    assert [(c["id"], c["unread_count"], c["role"]) for c in leader_inbox] == [(c1, 1, "leader")]
    assert leader_inbox[0]["other_party"]["user_id"] == buyer.user["id"]
    r = buyer.post(f"/conversations/{c1}/read", json={"up_to_seq": 2})
    assert r.status_code == 200 and r.get_json() == {"conversation_id": c1, "read_seq": 2, "unread_count": 1}
    assert buyer.post(f"/conversations/{c1}/read", json={"up_to_seq": 1}).get_json()["read_seq"] == 2  # forward only
    assert buyer.post(f"/conversations/{c1}/read", json={"up_to_seq": 99}).get_json()["unread_count"] == 0
    page = buyer.get("/conversations?limit=1").get_json()
    assert [c["id"] for c in page["items"]] == [c1] and page["next_cursor"]
    rest = buyer.get(f"/conversations?limit=1&cursor={page['next_cursor']}").get_json()
    assert [c["id"] for c in rest["items"]] == [c2] and rest["next_cursor"] is None


def test_only_the_two_parties_may_read_or_write(client, admin, leader, buyer):
    leader_api, approved = leader
    other_leader, _ = make_leader(client, admin)
    stranger = login(client, "stranger")
    cid = open_conv(buyer, approved["leader_id"]).get_json()["id"]
    say(buyer, cid)
    for outsider in (stranger, other_leader, admin):
        assert outsider.get(f"/conversations/{cid}/messages").status_code == 404
        r = outsider.post(f"/conversations/{cid}/messages", json={"type": "text", "text": "插话"})
        assert r.status_code == 404 and r.get_json()["code"] == "conversation_not_found"
        assert outsider.post(f"/conversations/{cid}/read", json={"up_to_seq": 1}).status_code == 404
        assert outsider.get("/conversations").get_json()["items"] == []
    assert client.get(f"/api/v1/conversations/{cid}/messages").status_code == 401


@pytest.mark.parametrize("body", [
    {"type": "text", "text": ""}, {"type": "text", "text": "x" * 2001}, {"type": "text", "text": "a\u202eb"},
    {"type": "text", "text": "   "}, {"type": "text"}, {"type": "image", "image_url": "http://x.example/a.png"},
    {"type": "image", "image_url": "javascript:alert(1)"}, {"type": "order"}, {"type": "voice", "text": "hi"},
])
def test_hostile_or_incomplete_messages_are_refused(client, leader, buyer, body):
    _, approved = leader
    cid = open_conv(buyer, approved["leader_id"]).get_json()["id"]
    r = buyer.post(f"/conversations/{cid}/messages", json=body)
    assert r.status_code == 422 and r.get_json()["code"] == "validation_error", r.get_json()


def test_image_and_order_card_messages(client, admin, leader, buyer, product):
    leader_api, approved = leader
    other_leader, other = make_leader(client, admin, lat=30.30, lng=120.10)
    cid = open_conv(buyer, approved["leader_id"]).get_json()["id"]
    img = buyer.post(f"/conversations/{cid}/messages", json={"type": "image", "image_url": "https://img.example/a.jpg"})
    assert img.status_code == 201 and img.get_json()["image_url"] == "https://img.example/a.jpg"
    order = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 2}],
                                        "pickup_point_id": approved["pickup_point_id"]}).get_json()
    elsewhere = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}],
                                            "pickup_point_id": other["pickup_point_id"]}).get_json()
    card = buyer.post(f"/conversations/{cid}/messages", json={"type": "order", "order_id": order["id"]}).get_json()
    assert card["order"]["id"] == order["id"] and card["order"]["status"] == "pending_payment"
    assert card["order"]["items"][0]["qty"] == 2 and "pickup_code" not in card["order"]
    for oid in (elsewhere["id"], 999999):
        r = buyer.post(f"/conversations/{cid}/messages", json={"type": "order", "order_id": oid})
        assert r.status_code == 422 and r.get_json()["code"] == "order_not_in_conversation"
    # someone else's order at this point is not the buyer's to show
    someone = login(client, "someone")
    theirs = someone.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}],
                                           "pickup_point_id": approved["pickup_point_id"]}).get_json()
    assert buyer.post(f"/conversations/{cid}/messages",
                      json={"type": "order", "order_id": theirs["id"]}).status_code == 422
    buyer.post(f"/orders/{order['id']}/pay")
    listed = leader_api.get(f"/conversations/{cid}/messages").get_json()["items"]
    assert listed[-1]["order"]["status"] == "paid"  # the card shows the order as it is now


def test_an_offline_leader_is_told_once_per_conversation_until_read(app, client, leader, buyer):
    leader_api, approved = leader
    cid = open_conv(buyer, approved["leader_id"]).get_json()["id"]
    say(buyer, cid, "在吗")
    say(buyer, cid, "在吗?")

    def unread_notes():
        with app.app_context(), transaction() as s:
            return [n.data for n in s.exec(select(Notification).where(Notification.user_id == leader_api.user["id"],
                                                                      Notification.event == "chat.unread"))]
    assert unread_notes() == [{"conversation_id": cid, "buyer_id": buyer.user["id"]}]
    leader_api.post(f"/conversations/{cid}/read", json={"up_to_seq": 2})
    say(buyer, cid, "明天几点?")
    assert len(unread_notes()) == 2
    # online (a socket's heartbeat keeps the key): no notification
    leader_api.post(f"/conversations/{cid}/read", json={"up_to_seq": 3})
    app.extensions["linli.redis"].set(f"linli:online:{leader_api.user['id']}", "1", ex=30)
    say(buyer, cid, "好的")
    assert len(unread_notes()) == 2


def test_concurrent_posters_get_gapless_strictly_increasing_seqs(app, client, leader, buyer, backend):
    """Real threads against one conversation. On SQLite writers queue on the database lock; on
    PostgreSQL they queue on the conversation row (the counter UPDATE) — the case that breaks
    with a read-then-write counter."""
    leader_api, approved = leader
    cid = open_conv(buyer, approved["leader_id"]).get_json()["id"]
    errors = []

    def post(api, n):
        c = app.test_client()
        for i in range(n):
            r = c.post(f"/api/v1/conversations/{cid}/messages", headers=api.headers,
                       json={"type": "text", "text": f"{api.user['id']}-{i}"})
            if r.status_code != 201:
                errors.append(r.get_json())

    threads = [threading.Thread(target=post, args=(api, 25)) for api in (buyer, leader_api) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with app.app_context(), transaction() as s:
        seqs = [m.seq for m in s.exec(select(Message).where(Message.conversation_id == cid).order_by(Message.id))]
    assert sorted(seqs) == list(range(1, 201))
    assert seqs == sorted(seqs)  # ids and seqs agree: the row lock orders the inserts too


def test_messages_are_rate_limited_per_user(make_settings, redis_server):
    from redis import Redis

    from app import create_app

    Redis.from_url(redis_server.url()).flushall()
    application = create_app(make_settings(ratelimit_enabled=True, chat_message_rate="3 per minute"))
    c = application.test_client()
    admin = login(c, "rl-admin", admin=True)
    _, approved = make_leader(c, admin)
    b = login(c, "rl-buyer")
    cid = open_conv(b, approved["leader_id"]).get_json()["id"]
    codes = [b.post(f"/conversations/{cid}/messages", json={"type": "text", "text": "hi"}).status_code
             for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    application.extensions["linli.engine"].dispose()


def test_an_announcement_gives_each_bound_buyer_one_message(app, client, admin, leader, product):
    leader_api, approved = leader
    other_leader, other = make_leader(client, admin, lat=30.30, lng=120.10)
    fans = [login(client, f"fan-{i}") for i in range(5)]
    for f in fans:
        assert f.put("/me/pickup-point", json={"pickup_point_id": approved["pickup_point_id"]}).status_code == 200
    elsewhere = login(client, "elsewhere")
    elsewhere.put("/me/pickup-point", json={"pickup_point_id": other["pickup_point_id"]})
    existing = open_conv(fans[0], approved["leader_id"]).get_json()["id"]
    say(fans[0], existing, "团长好")
    r = leader_api.post("/leader/broadcasts", json={"text": "西瓜到了, 下午 4 点前来取"})
    assert r.status_code == 201 and r.get_json()["recipients"] == 5
    for f in fans:
        convs = f.get("/conversations").get_json()["items"]
        assert len(convs) == 1 and convs[0]["last_message"]["text"] == "西瓜到了, 下午 4 点前来取"
        assert convs[0]["unread_count"] == 1
    assert [c["last_message"]["seq"] for c in fans[0].get("/conversations").get_json()["items"]] == [2]
    assert elsewhere.get("/conversations").get_json()["items"] == []
    assert len(leader_api.get("/conversations").get_json()["items"]) == 5
    bad = leader_api.post("/leader/broadcasts", json={"text": "hi", "segment": "vip"})
    assert bad.status_code == 422 and bad.get_json()["code"] == "validation_error"
    assert fans[1].post("/leader/broadcasts", json={"text": "hi"}).status_code == 403


def test_notifications_list_newest_first_and_mark_read(app, client, leader, buyer, product):
    _, approved = leader
    order = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}],
                                        "pickup_point_id": approved["pickup_point_id"]}).get_json()
    buyer.post(f"/orders/{order['id']}/pay")
    buyer.post(f"/orders/{order['id']}/cancel")
    page = buyer.get("/me/notifications").get_json()
    kinds = [(n["kind"], n["data"]["status"]) for n in page["items"]]
    assert kinds[0][0] == "order.updated" and ("order.updated", "paid") in kinds
    assert page["unread_count"] == len(page["items"]) and page["items"][0]["title"]
    first = buyer.get("/me/notifications?limit=1").get_json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    newest = page["items"][0]["id"]
    r = buyer.post("/me/notifications/read", json={"up_to_id": page["items"][-1]["id"]})
    assert r.status_code == 200 and r.get_json()["unread_count"] == len(page["items"]) - 1
    unread = buyer.get("/me/notifications?unread=true").get_json()
    assert [n["id"] for n in unread["items"]] == [i["id"] for i in page["items"][:-1]]
    buyer.post("/me/notifications/read", json={"up_to_id": newest})
    assert buyer.get("/me/notifications").get_json()["unread_count"] == 0
    assert login(client, "nobody").get("/me/notifications").get_json() == {"items": [], "next_cursor": None,
                                                                           "unread_count": 0}


def test_every_status_change_of_an_order_tells_the_buyer_once(app, client, leader, buyer, product, drain):
    """Told by the order domain's own state changes (hooks), whichever path made them: shipping
    is the nightly set-based UPDATE, arrival and pickup the leader's workbench."""
    from datetime import date

    from app.db import utcnow
    from app.order import transitions as order_transitions

    leader_api, approved = leader
    order = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}],
                                        "pickup_point_id": approved["pickup_point_id"]}).get_json()
    paid = buyer.post(f"/orders/{order['id']}/pay").get_json()["order"]
    day = paid["delivery_date"]
    with app.app_context(), transaction() as s:
        assert order_transitions.ship_for_delivery(s, delivery_date=date.fromisoformat(day), now=utcnow()) == 1
    # Shipping tells buyers from a job after the build commits (the build never waits on 300,000 notices).
    assert [n for n in buyer.get("/me/notifications").get_json()["items"] if n["data"].get("status") == "shipped"] == []
    assert drain() >= 1
    assert leader_api.post(f"/leader/deliveries/{day}/receive").get_json() == {"arrived": 1}
    assert leader_api.post("/leader/pickups", json={"pickup_code": paid["pickup_code"],
                                                    "delivery_date": day}).status_code == 200
    other = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}],
                                        "pickup_point_id": approved["pickup_point_id"]}).get_json()
    buyer.post(f"/orders/{other['id']}/cancel")
    items = buyer.get("/me/notifications").get_json()["items"]
    told = [(n["data"]["id"], n["data"]["status"]) for n in reversed(items) if n["kind"] == "order.updated"]
    assert told == [(order["id"], s) for s in ("paid", "shipped", "arrived", "picked_up")] + [(other["id"], "cancelled")]
    assert all(n["title"] for n in items)
