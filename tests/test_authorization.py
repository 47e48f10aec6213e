"""Who may call what: every operation of the OpenAPI document, tried with no token, a buyer's, a
leader's and an admin's, against a rule that this file's table gives it; and ownership (a buyer's
orders, a leader's pickup point) checked end to end.

A new operation that the table does not classify fails `test_every_operation_is_classified`:
decide who may call it, then add it here."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import select

from app.aftersales.models import AfterSale
from app.db import transaction
from app.earnings import service as earnings_service
from app.order import transitions as order_transitions
from app.payment import service as payment_service
from app.shipping.models import ShippingSync
from tests.conftest import Api, login, make_leader

PUBLIC, BUYER, LEADER, ADMIN = "public", "buyer", "leader", "admin"

# Whole families of paths first; every other operation is named one by one.
PREFIX_RULES = (
    ("/api/v1/admin/", ADMIN),
    ("/api/v1/leader/", LEADER),
)
OPERATIONS = {
    "POST /api/v1/auth/wechat": PUBLIC,
    "POST /api/v1/auth/dev-login": PUBLIC,
    "GET /api/v1/pickup-points/nearby": PUBLIC,
    "GET /api/v1/pickup-points/{point_id}": PUBLIC,
    "GET /api/v1/products": PUBLIC,
    "GET /api/v1/products/{product_id}": PUBLIC,
    "POST /api/v1/payments/wechatpay/notify": PUBLIC,  # WeChat Pay signs it; there is no bearer token
    "POST /api/v1/payments/wechatpay/transfer-notify": PUBLIC,  # the same, for merchant transfers
    # WeChat's message pushes (shipping reminders, settlements): signed with our Token, no bearer token
    "GET /api/v1/wechat/push": PUBLIC,
    "POST /api/v1/wechat/push": PUBLIC,
    "GET /api/v1/me": BUYER,
    "PATCH /api/v1/me": BUYER,
    "PUT /api/v1/me/pickup-point": BUYER,
    "POST /api/v1/leader-applications": BUYER,
    "GET /api/v1/orders": BUYER,
    "POST /api/v1/orders": BUYER,
    "GET /api/v1/orders/{order_id}": BUYER,
    "POST /api/v1/orders/{order_id}/pay": BUYER,
    "POST /api/v1/orders/{order_id}/cancel": BUYER,
    "GET /api/v1/admin/refunds": ADMIN,
    "GET /api/v1/flash-sales": PUBLIC,
    "GET /api/v1/bargains": PUBLIC,  # the mini-program's campaign page, before login
    "POST /api/v1/flash-sales/{sale_id}/purchase": BUYER,  # the token alone (no database read)
    "GET /api/v1/flash-sales/reservations/{reservation_id}": BUYER,
    # Share links open inside the mini-program, which logs in at launch: readers carry a token.
    "GET /api/v1/group-buys": PUBLIC,  # the campaign page, shown before login like flash sales
    "GET /api/v1/groups/{group_id}": BUYER,
    "POST /api/v1/group-buys/{group_buy_id}/groups": BUYER,
    "POST /api/v1/groups/{group_id}/join": BUYER,
    "POST /api/v1/bargains/{bargain_id}/start": BUYER,
    "POST /api/v1/bargain-records/{record_id}/help": BUYER,
    "GET /api/v1/bargain-records/{record_id}": BUYER,
    "POST /api/v1/bargain-records/{record_id}/order": BUYER,
    # Chat: any signed-in user; only the two parties of a conversation get past the service (404).
    "POST /api/v1/conversations": BUYER,
    "GET /api/v1/conversations": BUYER,
    "GET /api/v1/conversations/{conversation_id}/messages": BUYER,
    "POST /api/v1/conversations/{conversation_id}/messages": BUYER,
    "POST /api/v1/conversations/{conversation_id}/read": BUYER,
    "GET /api/v1/me/notifications": BUYER,
    "POST /api/v1/me/notifications/read": BUYER,
    "POST /api/v1/me/subscriptions": BUYER,
    "POST /api/v1/admin/refunds/{refund_id}/retry": ADMIN,
    # Sharing and points: any signed-in user; a share's token is all it takes to open it.
    "POST /api/v1/shares": BUYER,
    "POST /api/v1/shares/{token}/open": BUYER,
    "GET /api/v1/shares/{token}/poster": BUYER,
    "GET /api/v1/me/shares": BUYER,
    "GET /api/v1/me/points": BUYER,
    # Coupons: any signed-in buyer claims and holds them (operators and leaders by prefix).
    "GET /api/v1/coupon-templates": BUYER,
    "POST /api/v1/coupon-templates/{template_id}/claim": BUYER,
    "GET /api/v1/me/coupons": BUYER,
    # The wallet: packages and levels are shown before login; the rest is the caller's own wallet.
    "GET /api/v1/recharge-packages": PUBLIC,
    "GET /api/v1/member-levels": PUBLIC,
    "POST /api/v1/me/wallet/recharges": BUYER,
    "GET /api/v1/me/wallet": BUYER,
    "GET /api/v1/me/wallet/entries": BUYER,
    "POST /api/v1/me/wallet/pay-code": BUYER,
    # After-sales: any signed-in user asks about their own orders; a request is shown to its buyer,
    # its point's leader and operators (anyone else: 404), and only its buyer escalates it.
    "POST /api/v1/orders/{order_id}/after-sales": BUYER,
    "GET /api/v1/me/after-sales": BUYER,
    "GET /api/v1/after-sales/{after_sale_id}": BUYER,
    "POST /api/v1/after-sales/{after_sale_id}/escalate": BUYER,
}
# Outside the OpenAPI document, and public as well.
UNDOCUMENTED_PUBLIC = ("/healthz", "/api/v1/openapi.json", "/api/docs/swagger")


def classify(method: str, path: str) -> str | None:
    for prefix, rule in PREFIX_RULES:
        if path.startswith(prefix):
            return rule
    return OPERATIONS.get(f"{method.upper()} {path}")


def operations(client) -> list[tuple[str, str]]:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    return [(method.upper(), path) for path, item in r.get_json()["paths"].items() for method in item
            if method in ("get", "post", "put", "patch", "delete")]


# ---- a small world with one of everything, so that path parameters name real things -------------

@dataclass
class World:
    admin: Api
    buyer: Api
    other_buyer: Api
    leader: Api
    other_leader: Api
    ids: dict
    order: dict


@pytest.fixture
def world(client, admin, buyer, leader, product) -> World:
    leader_api, approved = leader
    other_leader_api, other_approved = make_leader(client, admin, lat=31.2304, lng=121.4737)
    other_buyer = login(client, "buyer-2", nickname="隔壁邻居")
    applicant = login(client, "applicant")
    application = applicant.post("/leader-applications", json={
        "real_name": "申请人", "phone": "13700000000",
        "pickup_point": {"name": "申请中的点", "address": "某路2号", "lat": 30.28, "lng": 120.16}}).get_json()
    sku = product["skus"][0]
    order = buyer.post("/orders", json={"items": [{"sku_id": sku["id"], "qty": 1}],
                                        "pickup_point_id": approved["pickup_point_id"]}).get_json()
    order = buyer.post(f"/orders/{order['id']}/pay").get_json()["order"]
    # A partial refund: something behind {refund_id}, and the order stays paid.
    with client.application.app_context(), transaction() as s:
        refund = payment_service.refund_amount(s, order_id=order["id"], amount=1, reason="world")
    conversation = buyer.post("/conversations", json={"leader_id": approved["leader_id"]}).get_json()
    now = datetime.now(timezone.utc)
    sale = admin.post("/admin/flash-sales", json={
        "sku_id": sku["id"], "price": 990, "stock": 5, "per_user_limit": 5, "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat()}).get_json()
    reservation = buyer.post(f"/flash-sales/{sale['id']}/purchase",
                             json={"qty": 1, "pickup_point_id": approved["pickup_point_id"]}).get_json()
    window = {"starts_at": "2020-01-01T00:00:00+00:00", "ends_at": "2099-01-01T00:00:00+00:00"}
    group_buy = admin.post("/admin/group-buys", json={"sku_id": sku["id"], "group_price": 900, "group_size": 2,
                                                      "duration_s": 3600, **window}).get_json()
    # The opener picks up at a third point, so the two leaders' order lists stay as they were.
    _, third = make_leader(client, admin, lat=22.5431, lng=114.0579)
    opener = login(client, "group-opener")
    group = opener.post(f"/group-buys/{group_buy['id']}/groups",
                        json={"pickup_point_id": third["pickup_point_id"]}).get_json()["group"]
    bargain = admin.post("/admin/bargains", json={"sku_id": sku["id"], "start_price": 1990, "floor_price": 990,
                                                  "helpers_needed": 3, "duration_s": 3600, **window}).get_json()
    record = opener.post(f"/bargains/{bargain['id']}/start").get_json()
    ids = {"sale_id": sale["id"], "reservation_id": reservation["reservation_id"],
           "conversation_id": conversation["id"],
           "application_id": application["id"], "group_buy_id": group_buy["id"], "group_id": group["id"],
           "bargain_id": bargain["id"], "record_id": record["id"], "leader_id": approved["leader_id"],
           "order_id": order["id"], "point_id": approved["pickup_point_id"], "product_id": product["id"],
           "sku_id": sku["id"], "delivery_date": order["delivery_date"],
           "other_point_id": other_approved["pickup_point_id"], "refund_id": refund.id,
           "date": (date.today() - timedelta(days=1)).isoformat(),  # a bill date (reconciliation)
           "token": buyer.post("/shares", json={"target_type": "product", "target_id": product["id"]}
                               ).get_json()["token"]}
    # A withdrawal of the leader's, reviewing (earnings credited as a settled commission would be).
    with client.application.app_context(), transaction() as s:
        earnings_service.credit(s, leader_id=approved["leader_id"], amount=5000, kind="commission",
                                source="commission:walk")
    ids["withdrawal_id"] = leader_api.post("/leader/withdrawals", json={"amount": 100}).get_json()["id"]
    ids["month"] = datetime.now(timezone.utc).strftime("%Y-%m")
    # A coupon template behind {template_id}.
    ids["template_id"] = admin.post("/admin/coupon-templates", json={
        "name": "满10减5", "kind": "fixed", "value": 500, "min_spend": 1000, "total": 1000, "per_user_limit": 100,
        **{"valid_from": "2020-01-01T00:00:00+00:00", "valid_to": "2099-01-01T00:00:00+00:00"}}).get_json()["id"]
    # A recharge (paid by the sandbox) behind {recharge_id}, and a counter sale behind {charge_id}.
    package = admin.post("/admin/recharge-packages", json={"name": "充100送10", "pay_amount": 10000,
                                                           "bonus_amount": 1000}).get_json()
    ids["package_id"] = package["id"]
    ids["recharge_id"] = buyer.post("/me/wallet/recharges", json={"package_id": package["id"]}
                                    ).get_json()["recharge"]["id"]
    code = buyer.post("/me/wallet/pay-code").get_json()["code"]
    ids["charge_id"] = leader_api.post("/leader/pay-code-charges", json={"code": code, "amount": 100}).get_json()["id"]
    # A shipping sync (failed), behind {sync_id}.
    with client.application.app_context(), transaction() as s:
        sync = ShippingSync(order_id=order["id"], ref=f"order:{order['id']}", transaction_id="4200WALK",
                            out_trade_no="LL000000000001", openid="buyer-1", item_desc="walk", state="failed")
        s.add(sync)
        s.flush()
        ids["sync_id"] = sync.id
    # An after-sales request of the buyer's order, waiting for the leader, behind {after_sale_id}.
    with client.application.app_context(), transaction() as s:
        after_sale = AfterSale(order_id=order["id"], buyer_id=buyer.user["id"], pickup_point_id=approved["pickup_point_id"],
                               leader_id=approved["leader_id"], reason="其他", amount=1)
        s.add(after_sale)
        s.flush()
        ids["after_sale_id"] = after_sale.id
    # The share's poster drawn already: the walk's WeChat fake (login only) draws no codes.
    with client.application.app_context(), transaction() as s:
        from app.share.models import Share, SharePoster
        share_id = s.exec(select(Share.id).where(Share.token == ids["token"])).one()
        s.add(SharePoster(share_id=share_id, png=b"\x89PNG\r\n\x1a\n", etag="walk"))
    return World(admin=admin, buyer=buyer, other_buyer=other_buyer, leader=leader_api,
                 other_leader=other_leader_api, ids=ids, order=order)


def fill_path(path: str, ids: dict) -> str:
    def one(m):
        name = m.group(1)
        assert name in ids, f"no real value for path parameter {{{name}}} in {path}: add one to `world`"
        return str(ids[name])
    return re.sub(r"\{(\w+)\}", one, path)


def request_for(op: str, w: World, fake_wechat) -> dict:
    """A well-formed request for each operation (so that what is tested is the rule, not validation)."""
    ids = w.ids
    bodies = {
        "POST /api/v1/auth/wechat": lambda: {"code": fake_wechat.issue_code("o-sweep")},
        "POST /api/v1/auth/dev-login": lambda: {"openid": "sweep-login"},
        "PATCH /api/v1/me": lambda: {"nickname": "改个名"},
        "PUT /api/v1/me/pickup-point": lambda: {"pickup_point_id": ids["point_id"]},
        "POST /api/v1/leader-applications": lambda: {
            "real_name": "扫一遍", "phone": "13600000000",
            "pickup_point": {"name": "扫描点", "address": "某路3号", "lat": 30.29, "lng": 120.17}},
        "POST /api/v1/orders": lambda: {"items": [{"sku_id": ids["sku_id"], "qty": 1}],
                                        "pickup_point_id": ids["point_id"]},
        "POST /api/v1/admin/leader-applications/{application_id}/reject": lambda: {"reason": "资料不全"},
        "PATCH /api/v1/admin/leaders/{leader_id}": lambda: {"commission_rate": 0.12},
        "PATCH /api/v1/admin/pickup-points/{point_id}": lambda: {"opening_hours": "08:00-20:00"},
        "POST /api/v1/admin/products": lambda: {"name": "土鸡蛋", "skus": [{"name": "10枚", "price": 1500,
                                                                          "stock": 10}]},
        "PATCH /api/v1/admin/products/{product_id}": lambda: {"description": "新鲜"},
        "PATCH /api/v1/admin/skus/{sku_id}": lambda: {"stock_delta": 1},
        "PATCH /api/v1/leader/pickup-point": lambda: {"opening_hours": "07:00-21:00"},
        "POST /api/v1/leader/pickups": lambda: {"pickup_code": "000000"},
        "POST /api/v1/leader/deliveries/{delivery_date}/shortages": lambda: {
            "lines": [{"sku_id": ids["sku_id"], "missing_qty": 1}]},
        "POST /api/v1/admin/flash-sales": lambda: {
            "sku_id": ids["sku_id"], "price": 990, "stock": 1, "per_user_limit": 1,
            "starts_at": datetime.now(timezone.utc).isoformat(),
            "ends_at": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()},
        "POST /api/v1/flash-sales/{sale_id}/purchase": lambda: {"qty": 1, "pickup_point_id": ids["point_id"]},
        "POST /api/v1/admin/group-buys": lambda: {"sku_id": ids["sku_id"], "group_price": 900, "group_size": 2,
                                                  "duration_s": 3600, "starts_at": "2020-01-01T00:00:00+00:00",
                                                  "ends_at": "2099-01-01T00:00:00+00:00"},
        "POST /api/v1/admin/bargains": lambda: {"sku_id": ids["sku_id"], "start_price": 1990, "floor_price": 990,
                                                "helpers_needed": 3, "duration_s": 3600,
                                                "starts_at": "2020-01-01T00:00:00+00:00",
                                                "ends_at": "2099-01-01T00:00:00+00:00"},
        "POST /api/v1/conversations": lambda: {"leader_id": ids["leader_id"]},
        "POST /api/v1/conversations/{conversation_id}/messages": lambda: {"type": "text", "text": "你好"},
        "POST /api/v1/conversations/{conversation_id}/read": lambda: {"up_to_seq": 1},
        "POST /api/v1/leader/broadcasts": lambda: {"text": "西瓜到了, 下午 4 点前来取", "segment": "active"},
        "POST /api/v1/me/notifications/read": lambda: {"up_to_id": 1},
        "POST /api/v1/me/subscriptions": lambda: {"accepted": ["order_ready"]},
        "POST /api/v1/shares": lambda: {"target_type": "product", "target_id": ids["product_id"]},
        "POST /api/v1/leader/withdrawals": lambda: {"amount": 100},
        "POST /api/v1/admin/coupon-templates": lambda: {
            "name": "满20减3", "kind": "percent", "value": 15, "max_discount": 300, "min_spend": 2000, "total": 10,
            "per_user_limit": 1, "valid_from": "2020-01-01T00:00:00+00:00", "valid_to": "2099-01-01T00:00:00+00:00"},
        "POST /api/v1/admin/coupon-templates/{template_id}/leader-quotas": lambda: {"leader_id": ids["leader_id"],
                                                                                     "quota": 10},
        "POST /api/v1/leader/coupon-grants": lambda: {"template_id": ids["template_id"], "segment": "all"},
        "POST /api/v1/admin/recharge-packages": lambda: {"name": "充50送3", "pay_amount": 5000, "bonus_amount": 300},
        "POST /api/v1/me/wallet/recharges": lambda: {"package_id": ids["package_id"]},
        "POST /api/v1/admin/member-levels": lambda: {"name": "银卡", "min_growth": 100, "discount_percent": 5},
        "POST /api/v1/leader/pay-code-charges": lambda: {"code": "660000000000000000", "amount": 100},
        "POST /api/v1/orders/{order_id}/after-sales": lambda: {"items": [{"sku_id": ids["sku_id"], "qty": 1}],
                                                              "reason": "其他"},
        "POST /api/v1/admin/orders/{order_id}/refund": lambda: {"reason": "after_sales",
                                                               "lines": [{"sku_id": ids["sku_id"], "qty": 1}]},
    }
    queries = {
        "GET /api/v1/pickup-points/nearby": {"lat": 30.2741, "lng": 120.1551},
        "GET /api/v1/leader/orders": {"delivery_date": ids["delivery_date"]},
        "GET /api/v1/leader/summary": {"delivery_date": ids["delivery_date"]},
        "GET /api/v1/leader/fans": {"segment": "active"},
        "GET /api/v1/leader/manifests/{delivery_date}": {"format": "csv"},
        "GET /api/v1/admin/manifests/{delivery_date}": {"format": "csv"},
        # The operator's lists with their day's figures, searched (ADMIN by the /admin/ prefix rule).
        "GET /api/v1/admin/leaders": {"date": ids["delivery_date"], "status": "active", "q": "团长"},
        "GET /api/v1/admin/pickup-points": {"date": ids["delivery_date"], "lat": 30.2741, "lng": 120.1551,
                                            "status": "open"},
    }
    kw: dict = {}
    if op in bodies:
        kw["json"] = bodies[op]()
    elif op.split()[0] in ("POST", "PUT", "PATCH"):
        kw["json"] = {}
    if op in queries:
        kw["query_string"] = queries[op]
    return kw


def callers(w: World) -> dict[str, dict]:
    return {"anonymous": {}, "buyer": w.buyer.headers, "leader": w.leader.headers, "admin": w.admin.headers}


def expected(rule: str, caller: str) -> set[int] | None:
    """The only statuses allowed for this caller, or None for "anything but 401/403"."""
    if rule == PUBLIC:
        return None
    if caller == "anonymous":
        return {401}
    if rule == BUYER:
        return None
    if rule == LEADER:
        return None if caller == "leader" else {403}
    if rule == ADMIN:
        return None if caller == "admin" else {403}
    raise AssertionError(rule)


def call(client, method: str, path: str, headers: dict, **kw):
    return client.open(path, method=method, headers=headers, **kw)


def check(r, rule: str, caller: str, label: str) -> None:
    allowed = expected(rule, caller)
    body = r.get_json(silent=True) or {}
    if allowed is None:
        assert r.status_code not in (401, 403), f"{label} as {caller} ({rule}): {r.status_code} {body}"
        assert r.status_code < 500, f"{label} as {caller}: {r.status_code} {body}"
    else:
        assert r.status_code in allowed, f"{label} as {caller} ({rule}): {r.status_code} {body}"
        assert r.mimetype == "application/problem+json"
        assert body["code"] == ("unauthorized" if r.status_code == 401 else "forbidden"), body


# ---- the table covers the document, and the document agrees with the table ---------------------

def test_every_operation_is_classified(client):
    unclassified = [f"{m} {p}" for m, p in operations(client) if classify(m, p) is None]
    assert not unclassified, f"add these operations to the table in {__name__}: {unclassified}"


def test_the_table_names_no_operation_that_does_not_exist(client):
    existing = {f"{m} {p}" for m, p in operations(client)}
    stale = sorted(set(OPERATIONS) - existing)
    assert not stale, f"the table names operations the app no longer has: {stale}"


def test_the_document_asks_for_a_token_on_exactly_the_non_public_operations(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            rule = classify(method, path)
            needs_token = bool(op.get("security"))
            assert needs_token == (rule != PUBLIC), f"{method.upper()} {path} is {rule} but security={op.get('security')}"
            if needs_token:
                assert {"401", "403"} <= set(op["responses"]), f"{method.upper()} {path} documents no 401/403"


# ---- every operation, every caller -----------------------------------------------------------

def test_every_operation_enforces_its_rule_for_every_caller(client, world, fake_wechat):
    for method, path in operations(client):
        op = f"{method} {path}"
        rule = classify(method, path)
        url = fill_path(path, world.ids)
        for caller, headers in callers(world).items():
            r = call(client, method, url, headers, **request_for(op, world, fake_wechat))
            check(r, rule, caller, op)


def test_the_caller_is_refused_before_the_request_is_validated(client, world):
    """A refusal does not depend on what was sent: an empty or malformed body, a bad query."""
    for method, path in operations(client):
        rule = classify(method, path)
        url = fill_path(path, world.ids) + "?limit=0&lat=north"
        for caller, headers in callers(world).items():
            if expected(rule, caller) is None:
                continue
            for kw in ({"json": {}}, {"data": "{not json", "content_type": "application/json"}):
                if method == "GET":
                    kw = {}
                check(call(client, method, url, headers, **kw), rule, caller, f"{method} {path} (bad input)")


@pytest.mark.parametrize("header", ["Bearer not-a-jwt", "Bearer a.b.c", "Token abc"])
def test_a_bad_token_is_a_401_on_every_protected_operation(client, world, header):
    for method, path in operations(client):
        if classify(method, path) == PUBLIC:
            continue
        r = call(client, method, fill_path(path, world.ids), {"Authorization": header}, json={})
        assert r.status_code == 401 and r.get_json()["code"] == "unauthorized", f"{method} {path}: {r.status_code}"


def test_public_operations_never_answer_401_even_to_a_bad_token(client, world, fake_wechat):
    for method, path in operations(client):
        op = f"{method} {path}"
        if classify(method, path) != PUBLIC:
            continue
        for headers in ({}, {"Authorization": "Bearer not-a-jwt"}):
            r = call(client, method, fill_path(path, world.ids), headers, **request_for(op, world, fake_wechat))
            assert r.status_code not in (401, 403), f"{op}: {r.status_code} {r.get_json(silent=True)}"
    for path in UNDOCUMENTED_PUBLIC:
        for headers in ({}, {"Authorization": "Bearer not-a-jwt"}):
            assert client.get(path, headers=headers).status_code == 200, path


# ---- ownership: a buyer's orders ------------------------------------------------------------

def test_a_buyer_cannot_see_cancel_or_pay_another_buyers_order(client, world, product, leader):
    _, approved = leader
    unpaid = world.buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}],
                                               "pickup_point_id": approved["pickup_point_id"]}).get_json()
    missing = world.other_buyer.get("/orders/987654").get_json()

    for order in (unpaid, world.order):
        for r in (world.other_buyer.get(f"/orders/{order['id']}"),
                  world.other_buyer.post(f"/orders/{order['id']}/pay"),
                  world.other_buyer.post(f"/orders/{order['id']}/cancel")):
            # Exactly what a missing order gets: existence is not revealed.
            assert r.status_code == 404 and r.get_json()["code"] == missing["code"] == "order_not_found"
            assert r.get_json()["title"] == missing["title"]

    assert world.buyer.get(f"/orders/{unpaid['id']}").get_json()["status"] == "pending_payment"
    assert world.buyer.get(f"/orders/{world.order['id']}").get_json()["status"] == "paid"
    assert world.other_buyer.get("/orders").get_json()["items"] == []


def test_a_leader_sees_only_the_orders_of_their_own_point(client, world, product):
    other_point = world.ids["other_point_id"]
    theirs = world.other_buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 3}],
                                                     "pickup_point_id": other_point}).get_json()
    world.other_buyer.post(f"/orders/{theirs['id']}/pay")

    mine = {o["id"] for o in world.leader.get("/leader/orders").get_json()["items"]}
    other = {o["id"] for o in world.other_leader.get("/leader/orders").get_json()["items"]}

    assert mine == {world.order["id"]}
    assert other == {theirs["id"]}
    for status in ("paid", "pending_payment", "cancelled"):
        got = world.other_leader.get("/leader/orders", query_string={"status": status}).get_json()["items"]
        assert world.order["id"] not in {o["id"] for o in got}
    summary = world.other_leader.get("/leader/summary", query_string={"delivery_date": theirs["delivery_date"]})
    assert summary.get_json()["order_count"] == 1
    assert [line["qty"] for line in summary.get_json()["lines"]] == [3]


def test_a_leader_sees_only_the_fans_of_their_own_point(client, world):
    world.buyer.put("/me/pickup-point", json={"pickup_point_id": world.ids["point_id"]})
    world.other_buyer.put("/me/pickup-point", json={"pickup_point_id": world.ids["other_point_id"]})

    for segment in ("all", "new", "active", "lapsed"):
        mine = world.leader.get("/leader/fans", query_string={"segment": segment}).get_json()["items"]
        theirs = world.other_leader.get("/leader/fans", query_string={"segment": segment}).get_json()["items"]
        assert world.other_buyer.user["id"] not in {f["user_id"] for f in mine}
        assert world.buyer.user["id"] not in {f["user_id"] for f in theirs}
    mine = world.leader.get("/leader/fans").get_json()["items"]
    assert [(f["user_id"], f["order_count"]) for f in mine] == [(world.buyer.user["id"], 1)]
    theirs = world.other_leader.get("/leader/fans").get_json()["items"]
    assert [(f["user_id"], f["order_count"]) for f in theirs] == [(world.other_buyer.user["id"], 0)]


def ship(app, delivery_date: str) -> None:
    """What the nightly manifest build does to paid orders."""
    with app.app_context(), transaction() as s:
        order_transitions.ship_paid_orders(s, delivery_date=date.fromisoformat(delivery_date))


def test_a_leader_cannot_receive_or_hand_over_another_points_order(app, client, world):
    order, day = world.order, world.order["delivery_date"]
    ship(app, day)

    assert world.other_leader.post(f"/leader/deliveries/{day}/receive").get_json() == {"arrived": 0}
    assert world.leader.post(f"/leader/deliveries/{day}/receive").get_json() == {"arrived": 1}

    for body in ({"pickup_code": order["pickup_code"]}, {"pickup_code": order["pickup_code"], "delivery_date": day}):
        r = world.other_leader.post("/leader/pickups", json=body)
        assert r.status_code == 404 and r.get_json()["code"] == "unknown_code"
    assert world.buyer.get(f"/orders/{order['id']}").get_json()["status"] == "arrived"

    r = world.leader.post("/leader/pickups", json={"pickup_code": order["pickup_code"]})
    assert r.status_code == 200 and r.get_json()["status"] == "picked_up"


def test_a_leader_edits_only_their_own_pickup_point(client, world):
    before = client.get(f"/api/v1/pickup-points/{world.ids['point_id']}").get_json()

    r = world.other_leader.patch("/leader/pickup-point", json={"name": "改名了"})

    assert r.status_code == 200 and r.get_json()["id"] == world.ids["other_point_id"]
    assert client.get(f"/api/v1/pickup-points/{world.ids['point_id']}").get_json() == before


def test_a_buyer_cannot_approve_applications_or_suspend_leaders(client, world):
    assert world.buyer.post(f"/admin/leader-applications/{world.ids['application_id']}/approve").status_code == 403
    assert world.buyer.patch(f"/admin/leaders/{world.ids['leader_id']}", json={"active": False}).status_code == 403
    assert "admin" not in world.buyer.get("/me").get_json()["roles"]
    applications = world.admin.get("/admin/leader-applications", query_string={"status": "pending"}).get_json()
    assert world.ids["application_id"] in {a["id"] for a in applications["items"]}



def test_a_leader_sees_only_their_own_points_manifest(client, world):
    day = world.ids["delivery_date"]
    assert world.admin.post(f"/admin/manifests/{day}/build").status_code == 200

    mine = world.leader.get(f"/leader/manifests/{day}").get_json()
    theirs = world.other_leader.get(f"/leader/manifests/{day}").get_json()

    assert [p["order_id"] for p in mine["pickups"]] == [world.order["id"]]
    assert theirs["pickup_point"]["id"] == world.ids["other_point_id"] and theirs["pickups"] == []


# ---- ownership: a conversation belongs to its buyer and its leader ----------------------------

def test_only_the_two_parties_reach_a_conversation(client, world):
    cid = world.ids["conversation_id"]
    for outsider in (world.other_buyer, world.other_leader, world.admin):
        for method, path, body in (("GET", f"/api/v1/conversations/{cid}/messages", None),
                                   ("POST", f"/api/v1/conversations/{cid}/messages", {"type": "text", "text": "嗨"}),
                                   ("POST", f"/api/v1/conversations/{cid}/read", {"up_to_seq": 1})):
            r = call(client, method, path, outsider.headers, json=body)
            assert r.status_code == 404 and r.get_json()["code"] == "conversation_not_found", (method, path)
    for party in (world.buyer, world.leader):
        assert call(client, "GET", f"/api/v1/conversations/{cid}/messages", party.headers).status_code == 200


def test_a_leader_sees_only_their_own_earnings_withdrawals_and_statements(client, world):
    withdrawal_id, month = world.ids["withdrawal_id"], world.ids["month"]

    theirs = world.other_leader.get(f"/leader/withdrawals/{withdrawal_id}")
    missing = world.other_leader.get("/leader/withdrawals/987654")

    assert theirs.status_code == 404 and theirs.get_json()["code"] == missing.get_json()["code"] == "withdrawal_not_found"
    assert world.leader.get(f"/leader/withdrawals/{withdrawal_id}").get_json()["amount"] == 100
    assert world.other_leader.get("/leader/withdrawals").get_json()["items"] == []
    other = world.other_leader.get("/leader/earnings").get_json()
    assert (other["available"], other["frozen"], other["items"]) == (0, 0, [])
    assert world.leader.get("/leader/earnings").get_json()["frozen"] == 100
    assert world.other_leader.get(f"/leader/statements/{month}").get_json()["withdrawals"] == []
    assert [w["id"] for w in world.leader.get(f"/leader/statements/{month}").get_json()["withdrawals"]] == [withdrawal_id]
