"""Subscribe messages end to end: grants from the API, sends written by the real flows' events,
delivered by a real RQ worker (the `drain` fixture) through the client to the fake WeChat server,
on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from app import create_app
from app.auth.models import User
from app.db import reading, transaction, utcnow
from app.notify import service as notify_service
from app.order import transitions as order_transitions
from app.subscribe import service as subscribe_service
from app.subscribe.jobs import send_subscribe_messages_job, sweep_subscribe_sends_job
from app.subscribe.models import Kind, SubscribeGrant, SubscribeSend
from tests.concurrency import run_together
from tests.conftest import login, make_product
from tests.fakes.wechat_api import SUBSCRIBE_SEND, wechat_api  # noqa: F401 - the fixture

TEMPLATES = {k.value: f"tmpl-{k.value}" for k in Kind}


@pytest.fixture
def settings_overrides(wechat_api):
    # The client does not retry by itself here, so a transient error reaches the job's RQ Retry.
    return {**wechat_api.settings(), "wechat_templates": TEMPLATES, "subscribe_retry_s": [0, 0],
            "wechat_retries": 0}


def give(api, *kinds: str) -> dict:
    r = api.post("/me/subscriptions", json={"accepted": list(kinds)})
    assert r.status_code == 200, r.get_json()
    return r.get_json()["grants"]


def sends(app, **where) -> list[SubscribeSend]:
    with app.app_context(), reading() as s:
        q = select(SubscribeSend).order_by(SubscribeSend.id)
        for k, v in where.items():
            q = q.where(getattr(SubscribeSend, k) == v)
        return list(s.exec(q).scalars())


def openid_of(app, user_id: int) -> str:
    with app.app_context(), reading() as s:
        return s.get(User, user_id).openid


def remaining(app, user_id: int, kind: str) -> int:
    with app.app_context(), reading() as s:
        row = s.get(SubscribeGrant, (user_id, kind))
        return row.remaining if row else 0


def arrive(app, client, buyer, leader, product, n: int = 1) -> list[int]:
    """n paid orders of `buyer`, shipped by the nightly path and received at the point: n
    order.updated(arrived) events in the leader's one transaction."""
    leader_api, approved = leader
    ids, day = [], None
    for _ in range(n):
        o = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}],
                                        "pickup_point_id": approved["pickup_point_id"]}).get_json()
        day = buyer.post(f"/orders/{o['id']}/pay").get_json()["order"]["delivery_date"]
        ids.append(o["id"])
    with app.app_context(), transaction() as s:
        order_transitions.ship_for_delivery(s, delivery_date=date.fromisoformat(day), now=utcnow())
    assert leader_api.post(f"/leader/deliveries/{day}/receive").get_json() == {"arrived": n}
    return ids


def chat_unread_events(app, user_id: int, n: int) -> list[int]:
    """n chat.unread events for one user through notify(), the funnel every event takes."""
    with app.app_context(), transaction() as s:
        for i in range(n):
            notify_service.notify(s, user_id=user_id, event="chat.unread", data={"conversation_id": i + 1},
                                  title="新消息", body="邻居给你发了消息")
    return [row.id for row in sends(app, user_id=user_id)]


# ---- grants ----------------------------------------------------------------------------------

def test_each_accepted_kind_gives_one_more_send(client, buyer):
    assert give(buyer, "order_ready", "chat_unread") == {
        "order_ready": 1, "group_result": 0, "bargain_completed": 0, "manifest_ready": 0, "chat_unread": 1}
    assert give(buyer, "order_ready")["order_ready"] == 2
    assert give(buyer)["order_ready"] == 2


@pytest.mark.parametrize("body", [{"accepted": ["order_shipped"]}, {"accepted": "order_ready"}, {},
                                  {"accepted": [1]}, {"accepted": ["order_ready"] * 6}])
def test_an_unknown_kind_or_a_malformed_list_is_refused(client, buyer, body):
    r = buyer.post("/me/subscriptions", json=body)
    assert r.status_code == 422 and r.get_json()["code"] == "validation_error"
    assert give(buyer)["order_ready"] == 0


def test_grants_accepted_at_once_all_count(app, client, buyer, backend):
    # SQLite serialises the writers; PostgreSQL runs the upserts truly at once (ON CONFLICT DO UPDATE).
    results = run_together(10, lambda i: buyer.post("/me/subscriptions", json={"accepted": ["group_result"]}))
    assert [r.status_code for r in results] == [200] * 10
    assert remaining(app, buyer.user["id"], "group_result") == 10


# ---- sends -----------------------------------------------------------------------------------

def test_a_grant_gives_exactly_one_send(app, client, buyer, leader, product, drain, wechat_api):
    give(buyer, "order_ready")

    order_ids = arrive(app, client, buyer, leader, product, n=2)
    drain()

    rows = sends(app, user_id=buyer.user["id"])
    assert sorted((r.status, r.reason) for r in rows) == [("sent", None), ("skipped", "no_grant")]
    assert len(wechat_api.sends) == 1
    sent = wechat_api.sends[0]
    assert sent.touser == openid_of(app, buyer.user["id"]) == "buyer-1"
    assert sent.template_id == "tmpl-order_ready"
    assert sent.page in {f"pages/order/detail?id={i}" for i in order_ids}
    assert sent.data["thing1"] == {"value": "商品已到自提点"}
    assert remaining(app, buyer.user["id"], "order_ready") == 0


def test_twenty_jobs_for_ten_sends_and_five_grants_send_exactly_five(app, client, leader, buyer, backend,
                                                                      wechat_api, drain):
    # Every send is taken by two jobs at once. On SQLite the writers are serialised, on PostgreSQL
    # the conditional UPDATEs (take the send, use a grant) race for real.
    for _ in range(5):
        give(buyer, "chat_unread")
    ids = chat_unread_events(app, buyer.user["id"], 10)
    assert len(ids) == 10

    def job(i):
        with app.app_context():
            return send_subscribe_messages_job([ids[i % 10]])

    results = run_together(20, job)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.status for r in sends(app, user_id=buyer.user["id"])) == ["sent"] * 5 + ["skipped"] * 5
    assert len(wechat_api.sends) == 5
    assert remaining(app, buyer.user["id"], "chat_unread") == 0
    drain()  # the after-commit jobs run too: nothing is pending any more, nothing is sent again
    assert len(wechat_api.sends) == 5


def test_a_user_refusal_is_recorded_and_the_grant_stays_used(app, client, buyer, drain, wechat_api):
    give(buyer, "chat_unread")
    wechat_api.fail_next(SUBSCRIBE_SEND, 43101)

    chat_unread_events(app, buyer.user["id"], 1)
    drain()

    [row] = sends(app, user_id=buyer.user["id"])
    assert (row.status, row.errcode, row.reason) == ("refused", 43101, "wechat_user_refused")
    assert wechat_api.sends == []
    assert remaining(app, buyer.user["id"], "chat_unread") == 0


def test_a_bad_request_refusal_gives_the_grant_back(app, client, buyer, drain, wechat_api):
    give(buyer, "chat_unread")
    wechat_api.fail_next(SUBSCRIBE_SEND, 40037)  # the template was deleted: the user's grant is untouched

    chat_unread_events(app, buyer.user["id"], 1)
    drain()

    [row] = sends(app, user_id=buyer.user["id"])
    assert (row.status, row.errcode) == ("refused", 40037)
    assert remaining(app, buyer.user["id"], "chat_unread") == 1


def test_a_busy_wechat_is_retried_by_rq_and_the_message_sent_once(app, client, buyer, drain, wechat_api):
    give(buyer, "chat_unread")
    wechat_api.fail_next(SUBSCRIBE_SEND, -1)

    chat_unread_events(app, buyer.user["id"], 1)
    drain()

    [row] = sends(app, user_id=buyer.user["id"])
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(wechat_api.sends) == 1
    assert sum(c.path == SUBSCRIBE_SEND for c in wechat_api.calls) == 2
    assert remaining(app, buyer.user["id"], "chat_unread") == 0


def test_a_send_busy_on_every_try_fails_and_gives_the_grant_back(app, client, buyer, drain, wechat_api):
    give(buyer, "chat_unread")
    wechat_api.fail_next(SUBSCRIBE_SEND, 45011, times=10)

    chat_unread_events(app, buyer.user["id"], 1)
    drain()

    [row] = sends(app, user_id=buyer.user["id"])
    assert (row.status, row.errcode, row.attempts) == ("failed", 45011, 3)  # the first try and two retries
    assert wechat_api.sends == []
    assert remaining(app, buyer.user["id"], "chat_unread") == 1


def test_no_template_configured_writes_nothing(make_settings, wechat_api, client):
    other = create_app(make_settings(wechat_templates={"order_ready": "tmpl-order_ready"}))
    try:
        user = login(other.test_client(), "no-template")
        with other.app_context(), transaction() as s:
            notify_service.notify(s, user_id=user.user["id"], event="chat.unread", data={"conversation_id": 1},
                                  title="新消息", body="x")
        assert sends(other) == []
    finally:
        other.extensions["linli.engine"].dispose()


def test_the_sweep_enqueues_a_pending_send_whose_enqueue_was_lost(app, client, buyer, drain, wechat_api):
    give(buyer, "chat_unread")
    chat_unread_events(app, buyer.user["id"], 1)
    app.extensions["linli.redis"].delete(f"rq:queue:{app.extensions['linli.settings'].queue_name}")  # lost
    assert drain() == 0
    with app.app_context():
        with transaction() as s:  # due just now (drain() may take a minute to stop its worker)
            s.execute(update(SubscribeSend).values(due_at=utcnow()))
        assert sweep_subscribe_sends_job() == 0  # not a minute old yet
        with transaction() as s:
            s.execute(update(SubscribeSend).values(due_at=utcnow() - timedelta(minutes=2)))
        assert sweep_subscribe_sends_job() == 1

    drain()

    assert [r.status for r in sends(app)] == ["sent"]
    assert len(wechat_api.sends) == 1


def test_message_values_fit_wechats_limits():
    assert subscribe_service.fit("thing1", "一" * 30) == {"value": "一" * 19 + "…"}
    assert subscribe_service.fit("thing2", "  两个\n空格  ") == {"value": "两个 空格"}
    assert subscribe_service.fit("character_string3", 12345) == {"value": "12345"}
    assert subscribe_service.fit("thing1", "") == {"value": "-"}


# ---- the five kinds, from the real flows -----------------------------------------------------

def test_each_kind_of_event_writes_a_send_and_each_reaches_wechat(app, client, admin, leader, buyer, product,
                                                                   drain, wechat_api):
    from tests.bargain.test_bargain import helpers, make_bargain
    from tests.groupbuy.helpers import buyers, make_campaign

    leader_api, approved = leader
    point = approved["pickup_point_id"]
    long_name = login(client, "chatty", nickname="一个名字非常非常长的邻居朋友")
    everyone = [leader_api, buyer, long_name]
    # order_ready: the buyer's order arrives at the point.
    arrive(app, client, buyer, leader, product)
    # chat_unread: the leader has no open socket.
    cid = long_name.post("/conversations", json={"leader_id": approved["leader_id"]}).get_json()["id"]
    long_name.post(f"/conversations/{cid}/messages", json={"type": "text", "text": "在吗"})
    # manifest_ready: tomorrow's build, told to the leader by a job.
    o = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}],
                                    "pickup_point_id": point}).get_json()
    day = buyer.post(f"/orders/{o['id']}/pay").get_json()["order"]["delivery_date"]
    assert admin.post(f"/admin/manifests/{day}/build").status_code == 200
    # group_result: a group of two fills.
    campaign = make_campaign(admin, product["skus"][0]["id"], group_size=2)
    opener, joiner = buyers(client, 2, point, prefix="g")
    everyone += [opener, joiner]
    opened = opener.post(f"/group-buys/{campaign['id']}/groups", json={}).get_json()
    joined = joiner.post(f"/groups/{opened['group']['id']}/join", json={}).get_json()
    # bargain_completed: three friends cut to the floor.
    bargain = make_bargain(admin, make_product(admin, name="砍价西瓜")["skus"][0]["id"], helpers_needed=2)
    record = buyer.post(f"/bargains/{bargain['id']}/start").get_json()
    for api in everyone:
        give(api, *TEMPLATES)
    for api, order in ((opener, opened["order"]), (joiner, joined["order"])):
        assert api.post(f"/orders/{order['id']}/pay").status_code == 200
    for api in helpers(client, 2):
        assert api.post(f"/bargain-records/{record['id']}/help").status_code == 200

    drain()

    rows = sends(app)
    assert {r.kind for r in rows} == set(TEMPLATES)
    assert [(r.kind, r.status, r.errcode) for r in rows if r.status != "sent"] == []
    pages = {(s.template_id, s.page) for s in wechat_api.sends}
    assert ("tmpl-chat_unread", f"pages/chat/conversation?id={cid}") in pages
    assert ("tmpl-manifest_ready", f"pages/leader/manifest?date={day}") in pages
    assert ("tmpl-group_result", f"pages/group/detail?id={opened['group']['id']}") in pages
    assert ("tmpl-bargain_completed", f"pages/bargain/detail?id={record['id']}") in pages
    assert any(t == "tmpl-order_ready" and p.startswith("pages/order/detail?id=") for t, p in pages)
    chat = next(s for s in wechat_api.sends if s.template_id == "tmpl-chat_unread")
    assert len(chat.data["thing2"]["value"]) == 20 and chat.data["thing2"]["value"].endswith("…")
    group_sends = [s for s in wechat_api.sends if s.template_id == "tmpl-group_result"]
    assert sorted(s.touser for s in group_sends) == sorted(openid_of(app, api.user["id"])
                                                           for api in (opener, joiner, leader_api))


def test_a_send_without_an_answer_is_failed_not_repeated(app, client, buyer, drain, wechat_api):
    from app.wechat import WechatClient

    # WeChat got the request but answered after our timeout: it may have sent the message.
    settings = app.extensions["linli.settings"].model_copy(update={"wechat_timeout_s": 0.3})
    app.extensions["linli.wechat"] = WechatClient(settings=settings, redis=app.extensions["linli.redis"])
    give(buyer, "chat_unread")
    give(buyer, "chat_unread")
    wechat_api.delay_next(SUBSCRIBE_SEND, 0.8)

    chat_unread_events(app, buyer.user["id"], 1)
    drain()

    [row] = sends(app, user_id=buyer.user["id"])
    assert (row.status, row.reason, row.attempts) == ("failed", "no_answer", 1)
    assert sum(c.path == SUBSCRIBE_SEND for c in wechat_api.calls) <= 1
    assert remaining(app, buyer.user["id"], "chat_unread") == 1  # the one it used stays used


def test_a_send_whose_worker_died_mid_call_is_failed_by_the_sweep(app, client, buyer, wechat_api):
    ids = chat_unread_events(app, buyer.user["id"], 1)
    with app.app_context(), transaction() as s:
        s.execute(update(SubscribeSend).values(status="sending", due_at=utcnow() - timedelta(minutes=11)))
    with app.app_context():
        assert sweep_subscribe_sends_job() == 0
        assert send_subscribe_messages_job(ids) == {"not_pending": 1}

    [row] = sends(app)
    assert (row.status, row.reason) == ("failed", "interrupted")
    assert wechat_api.sends == []
