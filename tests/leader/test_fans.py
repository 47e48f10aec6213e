"""A leader's fans and their segments, against a hand-built set of buyers whose histories are
known (timestamps set directly in the database, nothing sleeps); broadcasts to a segment reach
exactly the buyers the list shows. SQLite and PostgreSQL."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, update
from sqlmodel import select

from app.auth.models import User
from app.chat.models import Conversation, Message
from app.db import reading, transaction
from app.order.models import Order, OrderItem
from app.workbench import fans as fans_service
from tests.conftest import Api, login, make_leader

PRICE = 1990  # the product fixture's SKU, fen


@dataclass
class Fans:
    leader: Api
    other_leader: Api
    point_id: int
    other_point_id: int
    users: dict[str, int]  # name → user id
    now: datetime


def _set_order(app, order_id: int, *, days_ago: float, now: datetime) -> None:
    with app.app_context(), transaction() as s:
        s.execute(update(Order).where(Order.id == order_id).values(created_at=now - timedelta(days=days_ago)))


def _set_bound(app, user_id: int, *, days_ago: float, now: datetime) -> None:
    with app.app_context(), transaction() as s:
        s.execute(update(User).where(User.id == user_id).values(bound_at=now - timedelta(days=days_ago)))


def _paid_order(app, buyer: Api, *, sku_id: int, point_id: int, qty: int = 1, days_ago: float,
                now: datetime) -> int:
    r = buyer.post("/orders", json={"items": [{"sku_id": sku_id, "qty": qty}], "pickup_point_id": point_id})
    assert r.status_code == 201, r.get_json()
    oid = r.get_json()["id"]
    assert buyer.post(f"/orders/{oid}/pay").status_code == 200
    _set_order(app, oid, days_ago=days_ago, now=now)
    return oid


@pytest.fixture
def world(app, client, admin, leader, product) -> Fans:
    """Buyers with known histories at my point (P) and another point (Q):

    new3       bound to P 3 days ago, never ordered                        → new
    cancelled  bound to P 2 days ago, only a cancelled and an unpaid order → new
    quiet      bound to P 60 days ago, never ordered                       → (all only)
    o5         ordered at P 5 days ago (3 units, 1 refunded for a shortage),
               plus a wholly refunded order yesterday                      → active
    o20        ordered at P 20 days ago only                               → (all only)
    o40        ordered at P 40 days ago only                               → lapsed
    o40_10     ordered at P 40 and 10 days ago                             → active
    elsewhere  bound to Q, ordered at P 5 days ago                         → not my fan
    moved      ordered at P 40 days ago, now bound to Q                    → not my fan
    and the leader, bound to their own point                               → not their own fan
    """
    leader_api, approved = leader
    other_leader, other = make_leader(client, admin, lat=30.30, lng=120.10)
    p, q = approved["pickup_point_id"], other["pickup_point_id"]
    sku = product["skus"][0]["id"]
    now = datetime.now(timezone.utc)
    names = ("new3", "cancelled", "quiet", "o5", "o20", "o40", "o40_10", "elsewhere", "moved")
    buyers = {n: login(client, f"fan-{n}", nickname=f"粉丝{n}") for n in names}
    for n, api in buyers.items():
        r = api.put("/me/pickup-point", json={"pickup_point_id": q if n == "elsewhere" else p})
        assert r.status_code == 200, r.get_json()
        _set_bound(app, api.user["id"], days_ago=60, now=now)
    assert leader_api.put("/me/pickup-point", json={"pickup_point_id": p}).status_code == 200
    _set_bound(app, buyers["new3"].user["id"], days_ago=3, now=now)
    _set_bound(app, buyers["cancelled"].user["id"], days_ago=2, now=now)

    def order(name, days_ago, qty=1, point=p):
        return _paid_order(app, buyers[name], sku_id=sku, point_id=point, qty=qty, days_ago=days_ago, now=now)

    # cancelled: one order cancelled before paying, one left unpaid.
    r = buyers["cancelled"].post("/orders", json={"items": [{"sku_id": sku, "qty": 1}], "pickup_point_id": p})
    assert buyers["cancelled"].post(f"/orders/{r.get_json()['id']}/cancel").status_code == 200
    assert buyers["cancelled"].post("/orders", json={"items": [{"sku_id": sku, "qty": 1}],
                                                     "pickup_point_id": p}).status_code == 201
    o5 = order("o5", 5, qty=3)
    with app.app_context(), transaction() as s:  # what a shortage report leaves: 1 unit given back
        s.execute(update(OrderItem).where(OrderItem.order_id == o5).values(refunded_qty=1))
    gone = order("o5", 1)
    r = buyers["o5"].post(f"/orders/{gone}/cancel")  # a paid order cancelled is wholly refunded
    assert r.status_code == 200 and r.get_json()["status"] == "refunded", r.get_json()
    order("o20", 20)
    order("o40", 40)
    order("o40_10", 40)
    order("o40_10", 10, qty=2)
    order("elsewhere", 5)
    order("moved", 40)
    assert buyers["moved"].put("/me/pickup-point", json={"pickup_point_id": q}).status_code == 200
    return Fans(leader=leader_api, other_leader=other_leader, point_id=p, other_point_id=q,
                users={n: a.user["id"] for n, a in buyers.items()} | {"leader": leader_api.user["id"]}, now=now)


def names_in(w: Fans, items: list[dict]) -> list[str]:
    by_id = {v: k for k, v in w.users.items()}
    return [by_id.get(i["user_id"], str(i["user_id"])) for i in items]


def days_ago(w: Fans, iso: str) -> float:
    """How long before the fixture's `now` a timestamp of the API lies, in days (to the second)."""
    return round((w.now - datetime.fromisoformat(iso)).total_seconds()) / 86400


def fans(api: Api, segment: str | None = None, **params) -> dict:
    r = api.get("/leader/fans", query_string={**({"segment": segment} if segment else {}), **params})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


EXPECTED = {
    "all": {"new3", "cancelled", "quiet", "o5", "o20", "o40", "o40_10"},
    "new": {"new3", "cancelled"},
    "active": {"o5", "o40_10"},
    "lapsed": {"o40"},
}


@pytest.mark.parametrize("segment", list(EXPECTED))
def test_each_segment_holds_exactly_the_buyers_its_definition_names(world, segment):
    got = fans(world.leader, segment)
    assert set(names_in(world, got["items"])) == EXPECTED[segment]
    ids = [i["user_id"] for i in got["items"]]
    assert ids == sorted(ids, reverse=True) and got["next_cursor"] is None


def test_segment_all_is_the_default(world):
    assert fans(world.leader) == fans(world.leader, "all")


def test_the_numbers_count_only_paid_orders_at_my_point_net_of_refunded_units(world):
    items = fans(world.leader)["items"]
    rows = dict(zip(names_in(world, items), items))

    def seen(name):
        r = rows[name]
        return r["order_count"], r["total_spent"], r["last_order_at"] and days_ago(world, r["last_order_at"])

    assert seen("new3") == (0, 0, None)
    assert seen("cancelled") == (0, 0, None)  # a cancelled and an unpaid order are not orders
    assert seen("quiet") == (0, 0, None)
    assert seen("o5") == (1, 2 * PRICE, 5)  # 3 units, 1 refunded; the wholly refunded order left out
    assert seen("o20") == (1, PRICE, 20)
    assert seen("o40") == (1, PRICE, 40)
    assert seen("o40_10") == (2, 3 * PRICE, 10)
    assert rows["new3"]["nickname"] == "粉丝new3"
    assert days_ago(world, rows["new3"]["bound_at"]) == 3


def test_a_leader_sees_only_the_buyers_bound_to_their_point(world, client):
    theirs = fans(world.other_leader)["items"]
    # Bound to Q: elsewhere (its orders were at P, so none here) and moved (likewise).
    assert set(names_in(world, theirs)) == {"elsewhere", "moved"}
    assert all((i["order_count"], i["total_spent"], i["last_order_at"]) == (0, 0, None) for i in theirs)
    for segment in ("active", "lapsed"):
        assert fans(world.other_leader, segment)["items"] == []
    assert {i["user_id"] for i in fans(world.leader)["items"]}.isdisjoint({i["user_id"] for i in theirs})


def test_a_buyer_is_refused_and_a_bad_segment_is_a_422(world, client):
    buyer = login(client, "fan-new3")
    r = buyer.get("/leader/fans")
    assert r.status_code == 403 and r.get_json()["code"] == "forbidden"
    for params in ({"segment": "vip"}, {"segment": ""}, {"limit": 0}, {"cursor": "nope"}):
        r = world.leader.get("/leader/fans", query_string=params)
        assert r.status_code == 422 and r.get_json()["code"] == "validation_error", (params, r.get_json())


def test_pages_walk_every_fan_once_newest_first(world):
    expected = [i["user_id"] for i in fans(world.leader)["items"]]
    seen, cursor = [], None
    while True:
        page = fans(world.leader, "all", limit=2, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= 2
        seen += [i["user_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == expected and len(expected) == len(EXPECTED["all"])
    active = fans(world.leader, "active", limit=1)
    rest = fans(world.leader, "active", limit=1, cursor=active["next_cursor"])
    assert set(names_in(world, active["items"] + rest["items"])) == EXPECTED["active"]
    assert rest["next_cursor"] is None


def test_a_page_is_one_sql_statement_whatever_the_segment(app, world):
    engine = app.extensions["linli.engine"]
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    for segment in EXPECTED:
        with app.app_context(), reading() as s:
            s.connection()  # the session's BEGIN and any connection set-up are not the query
            event.listen(engine, "before_cursor_execute", count)
            try:
                rows = fans_service.list_fans(s, pickup_point_id=world.point_id, leader_user_id=world.users["leader"],
                                              segment=segment, before_id=None, limit=20)
            finally:
                event.remove(engine, "before_cursor_execute", count)
        assert len(rows) == len(EXPECTED[segment])
        assert len(statements) == 1, (segment, statements)
        statements.clear()


def test_segments_move_with_the_clock(app, world):
    """The service takes `now`: a month on, o5 (5 days ago) has lapsed, no one is new or active."""
    def at(now, segment):
        with app.app_context(), reading() as s:
            rows = fans_service.list_fans(s, pickup_point_id=world.point_id, leader_user_id=world.users["leader"],
                                          segment=segment, before_id=None, limit=100, now=now)
        return set(names_in(world, [dict(r._mapping) for r in rows]))

    later = world.now + timedelta(days=26)
    assert at(later, "new") == set() and at(later, "active") == set()
    assert at(later, "lapsed") == {"o5", "o20", "o40", "o40_10"}
    # 12 days on: o5's order is 17 days old and o40_10's latest 22 (neither active nor lapsed yet),
    # o20's 32 (lapsed); o5's wholly refunded order (13 days) never made them active.
    assert at(world.now + timedelta(days=12), "active") == set()
    assert at(world.now + timedelta(days=12), "lapsed") == {"o20", "o40"}


def _broadcast_recipients(app, broadcast_id: int) -> set[int]:
    with app.app_context(), reading() as s:
        return set(s.exec(select(Conversation.buyer_id).join(Message, Message.conversation_id == Conversation.id)
                          .where(Message.broadcast_id == broadcast_id)))


def test_a_broadcast_to_lapsed_reaches_exactly_the_lapsed_fans(app, world):
    r = world.leader.post("/leader/broadcasts", json={"text": "好久不见, 新到荔枝", "segment": "lapsed"})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["recipients"] == 1
    assert _broadcast_recipients(app, r.get_json()["id"]) == {world.users["o40"]}


@pytest.mark.parametrize("segment", list(EXPECTED))
def test_a_broadcast_to_a_segment_reaches_whom_the_fans_list_shows(app, world, segment):
    listed = {i["user_id"] for i in fans(world.leader, segment)["items"]}
    r = world.leader.post("/leader/broadcasts", json={"text": "明天有西瓜", "segment": segment})
    assert r.status_code == 201 and r.get_json()["recipients"] == len(listed)
    assert _broadcast_recipients(app, r.get_json()["id"]) == listed


def test_a_broadcast_sends_in_batches(app, world, monkeypatch):
    from app.chat import service as chat_service

    monkeypatch.setattr(chat_service, "BROADCAST_BATCH", 2)
    r = world.leader.post("/leader/broadcasts", json={"text": "分批", "segment": "all"})
    assert r.status_code == 201 and r.get_json()["recipients"] == len(EXPECTED["all"])
    assert _broadcast_recipients(app, r.get_json()["id"]) == {world.users[n] for n in EXPECTED["all"]}


def test_binding_dates_the_binding_and_rebinding_the_same_point_keeps_it(app, client, admin, leader):
    leader_api, approved = leader
    _, other = make_leader(client, admin, lat=30.30, lng=120.10)
    buyer = login(client, "binder")
    now = datetime.now(timezone.utc)

    def bound_at():
        with app.app_context(), reading() as s:
            return s.get(User, buyer.user["id"]).bound_at

    assert bound_at() is None
    buyer.put("/me/pickup-point", json={"pickup_point_id": approved["pickup_point_id"]})
    first = bound_at()
    assert first is not None and abs(first - now) < timedelta(minutes=1)
    _set_bound(app, buyer.user["id"], days_ago=30, now=now)
    buyer.put("/me/pickup-point", json={"pickup_point_id": approved["pickup_point_id"]})
    assert abs(bound_at() - (now - timedelta(days=30))) < timedelta(seconds=1)
    buyer.patch("/me", json={"nickname": "改名"})
    assert abs(bound_at() - (now - timedelta(days=30))) < timedelta(seconds=1)
    buyer.put("/me/pickup-point", json={"pickup_point_id": other["pickup_point_id"]})
    assert abs(bound_at() - now) < timedelta(minutes=1)


def test_the_migration_dates_existing_bindings_at_sign_up(backend, pg_cluster, tmp_path):
    """Buyers bound before bound_at existed get their sign-up time (not "now": that would make
    every one of them a `new` fan for a week); unbound buyers stay null."""
    import uuid

    from sqlalchemy import create_engine, text

    from app.migrate import upgrade

    url = (f"sqlite:///{tmp_path / 'm.db'}" if backend == "sqlite"
           else pg_cluster.create_database(f"m_{uuid.uuid4().hex[:8]}"))
    upgrade(url, "0009_chat")
    engine = create_engine(url)
    signed_up = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    stamp = signed_up.replace(tzinfo=None) if backend == "sqlite" else signed_up
    with engine.begin() as c:
        for uid, point in ((1, 7), (2, None)):
            c.execute(text("INSERT INTO users (id, openid, nickname, is_admin, pickup_point_id, created_at) "
                           "VALUES (:id, :o, 'n', false, :p, :t)"), {"id": uid, "o": f"o{uid}", "p": point, "t": stamp})
    try:
        upgrade(url, "0012_fans")
        with engine.connect() as c:
            rows = dict(c.execute(text("SELECT id, bound_at FROM users ORDER BY id")).all())
    finally:
        engine.dispose()
    bound = rows[1] if isinstance(rows[1], datetime) else datetime.fromisoformat(rows[1])
    bound = bound.astimezone(timezone.utc) if bound.tzinfo else bound.replace(tzinfo=timezone.utc)
    assert bound == signed_up and rows[2] is None
