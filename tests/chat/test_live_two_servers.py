"""Two real `linli serve --ws` processes (gevent workers) over one database and one Redis: a
socket on each, messages posted through either reach every socket of both parties and no one
else's, a reconnecting client catches up without loss or duplicates, 1,000 concurrent messages
keep a gapless order, and an announcement reaches 200 bound buyers exactly once each.

The database is a SQLite file shared by both processes (writers queue on its lock); the seq
counter's behaviour under PostgreSQL row locks is covered in test_conversations.py."""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from websockets.sync.client import connect

from tests.ops.real_server import cli_env, migrate, start


@pytest.fixture(scope="module")
def servers(tmp_path_factory, redis_server):
    tmp = tmp_path_factory.mktemp("chat")
    # A 1 s heartbeat and a 3 s presence, so that a test can outlive a few of them.
    env = cli_env(tmp, redis_server.url(9), LINLI_SECRET_KEY="chat-test-secret-5d1c9e7a3b2f8e6d4c0a",
                  LINLI_WS_HEARTBEAT_S="1", LINLI_WS_PRESENCE_TTL_S="3")
    migrate(env)
    procs = [start(["serve", "--ws", "--workers", "1"], env, tmp, f"serve{i}") for i in (1, 2)]
    try:
        for p in procs:
            p.wait_healthy()
        yield [f"127.0.0.1:{p.port}" for p in procs]
    finally:
        for p in procs:
            p.stop_group()


class User:
    def __init__(self, host: str, openid: str, admin: bool = False):
        self.http = requests.Session()
        r = self.http.post(f"http://{host}/api/v1/auth/dev-login", json={"openid": openid, "admin": admin})
        r.raise_for_status()
        self.token, self.user = r.json()["token"], r.json()["user"]
        self.id = self.user["id"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def call(self, host: str, method: str, path: str, **kw):
        return self.http.request(method, f"http://{host}/api/v1{path}", timeout=30, **kw)


class Socket:
    def __init__(self, host: str, user: User):
        # max_queue=None: a test that reads late must not stop the client answering pings.
        self.ws = connect(f"ws://{host}/api/v1/ws?token={user.token}", open_timeout=10, max_queue=None)
        assert json.loads(self.ws.recv(timeout=10))["event"] == "ready"

    def events(self, n: int | None = None, quiet: float = 0.5, timeout: float = 20) -> list[dict]:
        """n events (or, without n, whatever arrives until `quiet` seconds pass without one)."""
        out, deadline = [], time.time() + timeout
        while time.time() < deadline and (n is None or len(out) < n):
            try:
                out.append(json.loads(self.ws.recv(timeout=quiet if n is None else deadline - time.time())))
            except TimeoutError:
                if n is None:
                    break
        return out

    def close(self):
        self.ws.close()


def make_leader(host: str, admin: User, openid: str) -> tuple[User, dict]:
    u = User(host, openid)
    r = u.call(host, "POST", "/leader-applications", json={
        "real_name": "团长", "phone": "13900000000",
        "pickup_point": {"name": f"点-{openid}", "address": "某路1号", "lat": 30.27, "lng": 120.15}})
    assert r.status_code == 201, r.text
    approved = admin.call(host, "POST", f"/admin/leader-applications/{r.json()['id']}/approve").json()
    return User(host, openid), approved  # a fresh token carries the leader role


@pytest.fixture(scope="module")
def people(servers):
    a, _ = servers
    admin = User(a, "admin", admin=True)
    leader, approved = make_leader(a, admin, "leader-live")
    return {"admin": admin, "leader": leader, "approved": approved, "buyer": User(a, "buyer-live"),
            "stranger": User(a, "stranger-live")}


def conversation(host, buyer, leader_id) -> int:
    r = buyer.call(host, "POST", "/conversations", json={"leader_id": leader_id})
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


def created(events) -> list[dict]:
    return [e["data"] for e in events if e["event"] == "message.created"]


def test_a_message_posted_through_one_server_reaches_sockets_on_the_other(servers, people):
    a, b = servers
    buyer, leader, stranger = people["buyer"], people["leader"], people["stranger"]
    cid = conversation(a, buyer, people["approved"]["leader_id"])
    leader_on_b, buyer_on_b, buyer_on_a, stranger_on_b = (Socket(b, leader), Socket(b, buyer), Socket(a, buyer),
                                                          Socket(b, stranger))
    try:
        sent_at = time.time()
        r = buyer.call(a, "POST", f"/conversations/{cid}/messages", json={"type": "text", "text": "明天几点到?"})
        assert r.status_code == 201
        got = leader_on_b.events(1)
        assert time.time() - sent_at < 2
        assert created(got) == [r.json()]
        # the sender's other sockets, on either server, see it too
        assert created(buyer_on_b.events(1)) == [r.json()] and created(buyer_on_a.events(1)) == [r.json()]
        reply = leader.call(b, "POST", f"/conversations/{cid}/messages", json={"type": "text", "text": "下午三点"})
        assert created(buyer_on_a.events(1)) == [reply.json()]
        # no one else's socket hears a word of it, and they cannot read or write it either
        assert stranger_on_b.events() == []
        assert stranger.call(a, "GET", f"/conversations/{cid}/messages").status_code == 404
        assert stranger.call(b, "POST", f"/conversations/{cid}/messages",
                             json={"type": "text", "text": "插话"}).status_code == 404
        assert created(leader_on_b.events(1)) == [reply.json()]  # the sender's own socket, for its other tabs
    finally:
        for s in (leader_on_b, buyer_on_b, buyer_on_a, stranger_on_b):
            s.close()


def test_a_socket_without_a_valid_token_is_refused(servers):
    from websockets.exceptions import InvalidStatus

    for url in (f"ws://{servers[0]}/api/v1/ws", f"ws://{servers[0]}/api/v1/ws?token=not-a-jwt"):
        with pytest.raises(InvalidStatus) as e:
            connect(url, open_timeout=10)
        assert e.value.response.status_code == 401


def test_a_leader_with_a_live_socket_is_not_nagged_and_one_without_is_told_once(servers, people):
    a, b = servers
    leader, approved = make_leader(a, people["admin"], "leader-presence")
    buyer = User(a, "buyer-presence")
    cid = conversation(a, buyer, approved["leader_id"])
    sock = Socket(b, leader)
    try:
        time.sleep(5)  # past the presence TTL: only the heartbeat keeps the leader online
        buyer.call(a, "POST", f"/conversations/{cid}/messages", json={"type": "text", "text": "在吗"})
        assert created(sock.events(1))[0]["text"] == "在吗"
    finally:
        sock.close()
    notes = lambda: [n for n in leader.call(a, "GET", "/me/notifications").json()["items"]  # noqa: E731
                     if n["kind"] == "chat.unread"]
    assert notes() == []
    time.sleep(4)  # the socket is gone and its presence has lapsed
    for text in ("还在吗", "急"):
        buyer.call(b, "POST", f"/conversations/{cid}/messages", json={"type": "text", "text": text})
    assert [n["data"]["conversation_id"] for n in notes()] == [cid]


def test_order_updates_reach_the_buyers_socket(servers, people):
    a, b = servers
    buyer, admin, approved = people["buyer"], people["admin"], people["approved"]
    product = admin.call(a, "POST", "/admin/products", json={"name": "西瓜", "skus": [
        {"name": "一个", "price": 1990, "stock": 10}]}).json()
    sock = Socket(b, buyer)
    try:
        order = buyer.call(a, "POST", "/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}],
                                                       "pickup_point_id": approved["pickup_point_id"]}).json()
        assert buyer.call(a, "POST", f"/orders/{order['id']}/pay").status_code == 200
        updates = [e["data"] for e in sock.events(1) if e["event"] == "order.updated"]
        assert [(u["id"], u["status"]) for u in updates] == [(order["id"], "paid")]
    finally:
        sock.close()


def test_a_reconnecting_client_catches_up_without_loss_or_duplicates(servers, people):
    a, b = servers
    buyer, leader = User(a, "buyer-reconnect"), people["leader"]
    cid = conversation(a, buyer, people["approved"]["leader_id"])
    seen: dict[int, dict] = {}
    sock = Socket(b, buyer)
    for i in range(3):
        leader.call(a, "POST", f"/conversations/{cid}/messages", json={"type": "text", "text": f"在线{i}"})
    for m in created(sock.events(3)):
        seen[m["seq"]] = m
    sock.close()
    for i in range(5):  # said while the buyer's phone was in a tunnel
        leader.call(b, "POST", f"/conversations/{cid}/messages", json={"type": "text", "text": f"离线{i}"})
    sock = Socket(a, buyer)
    try:
        last = max(seen)
        caught = buyer.call(a, "GET", f"/conversations/{cid}/messages", params={"after_seq": last}).json()["items"]
        leader.call(a, "POST", f"/conversations/{cid}/messages", json={"type": "text", "text": "回来了"})
        live = created(sock.events(1))
        for m in caught + live:
            assert m["seq"] not in seen
            seen[m["seq"]] = m
        total = buyer.call(b, "GET", f"/conversations/{cid}/messages", params={"limit": 100}).json()["items"]
        assert sorted(seen) == [m["seq"] for m in total] == list(range(1, len(total) + 1))
        assert [m["text"] for m in caught][-5:] == [f"离线{i}" for i in range(5)]
    finally:
        sock.close()


def test_a_thousand_concurrent_messages_keep_a_gapless_order(servers, people):
    a, b = servers
    leader = people["leader"]
    # a fresh conversation, so that seqs start at 1
    fresh = User(a, "buyer-thousand")
    cid = conversation(a, fresh, people["approved"]["leader_id"])
    sock = Socket(b, leader)
    posters = [(fresh, a), (fresh, b), (leader, a), (leader, b)]
    failures = []

    def post(k: int):
        who, host = posters[k]
        for i in range(250):
            r = who.call(host, "POST", f"/conversations/{cid}/messages", json={"type": "text", "text": f"{k}:{i}"})
            if r.status_code != 201:
                failures.append(r.text)

    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(post, range(4)))
        assert not failures
        pushed = created(sock.events(1000, timeout=60))
        history, after = [], 0
        while True:
            page = fresh.call(a, "GET", f"/conversations/{cid}/messages", params={"after_seq": after, "limit": 100}).json()
            history += page["items"]
            if not page["has_more"]:
                break
            after = page["items"][-1]["seq"]
        assert [m["seq"] for m in history] == list(range(1, 1001))
        assert sorted(m["seq"] for m in pushed) == list(range(1, 1001))  # each pushed once
        for k in range(4):  # each poster's own messages keep the order it sent them
            mine = [int(m["text"].split(":")[1]) for m in history if m["text"].startswith(f"{k}:")]
            assert mine == list(range(250))
    finally:
        sock.close()


def test_an_announcement_reaches_each_of_200_bound_buyers_exactly_once(servers, people):
    a, b = servers
    leader2, approved2 = make_leader(a, people["admin"], "leader-broadcast")
    point = approved2["pickup_point_id"]

    def bound_buyer(i):
        u = User(a if i % 2 else b, f"fan-{i}")
        assert u.call(a, "PUT", "/me/pickup-point", json={"pickup_point_id": point}).status_code == 200
        return u

    with ThreadPoolExecutor(4) as pool:
        buyers = list(pool.map(bound_buyer, range(200)))
    # some already talk to the leader (their conversation is reused, not doubled)
    for u in buyers[:10]:
        conversation(a, u, approved2["leader_id"])
        u.call(a, "POST", f"/conversations/{conversation(a, u, approved2['leader_id'])}/messages",
               json={"type": "text", "text": "团长好"})
    sockets = [Socket(a if i % 2 else b, u) for i, u in enumerate(buyers[:20])]
    try:
        r = leader2.call(b, "POST", "/leader/broadcasts", json={"text": "西瓜到了, 下午 4 点前来取"})
        assert r.status_code == 201 and r.json()["recipients"] == 200
        assert leader2.call(b, "POST", "/leader/broadcasts",
                            json={"text": "x", "segment": "vip"}).status_code == 422
        for s in sockets:
            got = created(s.events())
            assert [m["text"] for m in got] == ["西瓜到了, 下午 4 点前来取"]
        inbox = leader2.call(a, "GET", "/conversations", params={"limit": 100}).json()
        assert len(inbox["items"]) == 100 and inbox["next_cursor"]
        for u in buyers:
            convs = u.call(a, "GET", "/conversations").json()["items"]
            assert len(convs) == 1 and convs[0]["other_party"]["leader_id"] == approved2["leader_id"]
            msgs = u.call(a, "GET", f"/conversations/{convs[0]['id']}/messages").json()["items"]
            assert [m["text"] for m in msgs if m["broadcast_id"] == r.json()["id"]] == ["西瓜到了, 下午 4 点前来取"]
            assert convs[0]["unread_count"] == 1
    finally:
        for s in sockets:
            s.close()
