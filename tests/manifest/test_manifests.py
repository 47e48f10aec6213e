"""Manifests: the build ships and lists, idempotently and in versions; documents; who sees what."""
from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import func, select, update

from app.auth.models import User
from app.config import Settings
from app.db import reading, transaction, utcnow
from app.manifest import jobs
from app.manifest import service as manifest_service
from app.manifest.schemas import BuildResult
from app.manifest.service import MANIFEST_READY, next_delivery_date_to_build
from app.notify.models import Notification
from app.order import transitions as order_transitions
from app.order.models import Order
from tests.conftest import login, make_leader, make_product


def paid_order(buyer, sku_ids, point_id, qty=1):
    o = buyer.post("/orders", json={"items": [{"sku_id": k, "qty": qty} for k in sku_ids],
                                    "pickup_point_id": point_id})
    assert o.status_code == 201, o.get_json()
    r = buyer.post(f"/orders/{o.get_json()['id']}/pay")
    assert r.status_code == 200, r.get_json()
    return r.get_json()["order"]


def statuses(app, ids):
    with app.app_context(), reading() as s:
        return dict(s.execute(select(Order.id, Order.status).where(Order.id.in_(ids))).all())


def set_phone(app, user_id, phone):
    with app.app_context(), transaction() as s:
        s.execute(update(User).where(User.id == user_id).values(phone=phone))


def ready_notes(app, user_id):
    with app.app_context(), reading() as s:
        return [n.data for n in s.exec(select(Notification).where(Notification.user_id == user_id,
                                                                  Notification.event == MANIFEST_READY)
                                       .order_by(Notification.id)).scalars()]


@pytest.fixture
def world(client, admin):
    (l1, p1), (l2, p2) = make_leader(client, admin, name="幸福里自提点"), make_leader(client, admin, lat=30.3, lng=120.1)
    product = make_product(admin, skus=(("一个装约4斤", 1990, 1000), ("半个装约2斤", 1090, 1000)))
    melon, half = (s["id"] for s in product["skus"])
    b1 = login(client, "m-buyer-1", nickname="张阿姨")
    b2 = login(client, "m-buyer-2", nickname="李叔")
    return {"l1": l1, "p1": p1["pickup_point_id"], "l2": l2, "p2": p2["pickup_point_id"], "melon": melon,
            "half": half, "b1": b1, "b2": b2, "admin": admin}


def test_before_the_build_there_is_no_manifest(world):
    day = "2030-01-02"
    for r in (world["l1"].get(f"/leader/manifests/{day}"), world["admin"].get(f"/admin/manifests/{day}")):
        assert r.status_code == 404 and r.get_json()["code"] == "manifest_not_built"


def test_the_build_ships_paid_orders_and_lists_them_with_product_and_sku_names(app, world):
    w = world
    o1 = paid_order(w["b1"], [w["melon"], w["half"]], w["p1"], qty=2)
    o2 = paid_order(w["b2"], [w["melon"]], w["p1"])
    unpaid = w["b2"].post("/orders", json={"items": [{"sku_id": w["melon"], "qty": 1}],
                                           "pickup_point_id": w["p1"]}).get_json()
    day = o1["delivery_date"]

    r = w["admin"].post(f"/admin/manifests/{day}/build")

    assert r.status_code == 200, r.get_json()
    assert r.get_json() | {"built_at": None} == {"delivery_date": day, "version": 1, "built_at": None, "points": 1,
                                                 "points_changed": 1, "orders": 2, "orders_shipped": 2}
    assert statuses(app, [o1["id"], o2["id"], unpaid["id"]]) == {
        o1["id"]: "shipped", o2["id"]: "shipped", unpaid["id"]: "pending_payment"}
    m = w["l1"].get(f"/leader/manifests/{day}").get_json()
    assert m["delivery_date"] == day and m["version"] == 1 and m["pickup_point"] == {"id": w["p1"], "name": "幸福里自提点"}
    assert m["receiving"] == [{"sku_id": w["melon"], "name": "麒麟西瓜 一个装约4斤", "qty": 3},
                              {"sku_id": w["half"], "name": "麒麟西瓜 半个装约2斤", "qty": 2}]
    by_order = {p["order_id"]: p for p in m["pickups"]}
    assert by_order[o1["id"]]["buyer"] == {"nickname": "张阿姨", "phone": None}
    nothing_refunded = {"refunded_qty": 0, "refunded": False}
    assert by_order[o1["id"]]["items"] == [
        {"sku_id": w["melon"], "name": "麒麟西瓜 一个装约4斤", "qty": 2, "ordered_qty": 2, **nothing_refunded},
        {"sku_id": w["half"], "name": "麒麟西瓜 半个装约2斤", "qty": 2, "ordered_qty": 2, **nothing_refunded}]
    wh = w["admin"].get(f"/admin/manifests/{day}").get_json()
    assert wh["version"] == 1
    assert wh["skus"][0] == {"sku_id": w["melon"], "name": "麒麟西瓜 一个装约4斤", "total": 3,
                             "by_point": [{"pickup_point_id": w["p1"], "name": "幸福里自提点", "qty": 3}]}


def test_a_rerun_with_nothing_new_gives_the_same_manifests_and_ships_nothing_twice(app, world, drain):
    w = world
    o = paid_order(w["b1"], [w["melon"]], w["p1"])
    day = o["delivery_date"]
    first = w["admin"].post(f"/admin/manifests/{day}/build").get_json()
    leader_before = w["l1"].get(f"/leader/manifests/{day}").get_json()
    admin_before = w["admin"].get(f"/admin/manifests/{day}").get_json()

    again = w["admin"].post(f"/admin/manifests/{day}/build").get_json()
    with app.app_context():
        also = BuildResult(**jobs.build_manifests_job(day)).model_dump(mode="json")

    assert again == also == first | {"orders_shipped": 0, "points_changed": 0}
    assert w["l1"].get(f"/leader/manifests/{day}").get_json() == leader_before
    assert w["admin"].get(f"/admin/manifests/{day}").get_json() == admin_before
    drain()
    with app.app_context():
        assert jobs.notify_manifest_ready_job(day) == 0  # a second run tells nobody again
    assert [n["version"] for n in ready_notes(app, w["l1"].user["id"])] == [1]


def test_orders_paid_after_a_build_appear_in_a_new_version_of_their_points_manifest_only(app, world, drain):
    w = world
    o1 = paid_order(w["b1"], [w["melon"]], w["p1"])
    paid_order(w["b2"], [w["half"]], w["p2"])
    day = o1["delivery_date"]
    w["admin"].post(f"/admin/manifests/{day}/build")
    drain()
    p2_before = w["l2"].get(f"/leader/manifests/{day}").get_json()

    late = paid_order(w["b2"], [w["melon"]], w["p1"], qty=4)
    r = w["admin"].post(f"/admin/manifests/{day}/build").get_json()

    assert r["version"] == 2 and r["orders_shipped"] == 1 and r["points_changed"] == 1 and r["orders"] == 3
    m1 = w["l1"].get(f"/leader/manifests/{day}").get_json()
    assert m1["version"] == 2
    assert {p["order_id"] for p in m1["pickups"]} == {o1["id"], late["id"]}
    assert m1["receiving"] == [{"sku_id": w["melon"], "name": "麒麟西瓜 一个装约4斤", "qty": 5}]
    assert w["l2"].get(f"/leader/manifests/{day}").get_json() == p2_before
    wh = w["admin"].get(f"/admin/manifests/{day}").get_json()
    assert wh["version"] == 2 and [s["total"] for s in wh["skus"]] == [5, 1]
    drain()
    assert [n["version"] for n in ready_notes(app, w["l1"].user["id"])] == [1, 2]
    assert [n["version"] for n in ready_notes(app, w["l2"].user["id"])] == [1]


def test_an_order_shipped_by_other_means_joins_its_points_list_at_the_next_build_only(app, world, drain):
    # The pickup list is read from the shipped orders (not copied): an order shipped after a build
    # must not slip into the version already built (its receiving list would not count it).
    w = world
    o1 = paid_order(w["b1"], [w["melon"]], w["p1"])
    day = o1["delivery_date"]
    w["admin"].post(f"/admin/manifests/{day}/build")
    before = w["l1"].get(f"/leader/manifests/{day}").get_json()
    o2 = paid_order(w["b2"], [w["melon"], w["half"]], w["p1"], qty=2)
    with app.app_context(), transaction() as s:
        assert order_transitions.ship_paid_orders(s, delivery_date=date.fromisoformat(day)) == [o2["id"]]

    assert w["l1"].get(f"/leader/manifests/{day}").get_json() == before

    r = w["admin"].post(f"/admin/manifests/{day}/build").get_json()
    assert r["version"] == 2 and r["orders_shipped"] == 0 and r["points_changed"] == 1 and r["orders"] == 2
    m = w["l1"].get(f"/leader/manifests/{day}").get_json()
    assert m["version"] == 2 and [p["order_id"] for p in m["pickups"]] == [o1["id"], o2["id"]]
    assert m["receiving"] == [{"sku_id": w["melon"], "name": "麒麟西瓜 一个装约4斤", "qty": 3},
                              {"sku_id": w["half"], "name": "麒麟西瓜 半个装约2斤", "qty": 2}]
    again = w["admin"].post(f"/admin/manifests/{day}/build").get_json()
    assert again == r | {"points_changed": 0}
    assert w["l1"].get(f"/leader/manifests/{day}").get_json() == m


def test_an_order_stamped_after_the_build_by_a_clock_ahead_is_counted_once_by_the_next_build(app, world):
    w = world
    o1 = paid_order(w["b1"], [w["melon"]], w["p1"])
    o2 = paid_order(w["b2"], [w["melon"]], w["p1"], qty=4)
    day = date.fromisoformat(o1["delivery_date"])
    ahead = utcnow() + timedelta(hours=1)
    with app.app_context(), transaction() as s:
        order_transitions.ship_paid_orders(s, delivery_date=day)
        s.execute(update(Order).where(Order.id == o2["id"]).values(shipped_at=ahead))

    def build(now=None):
        with app.app_context(), transaction() as s:
            r = manifest_service.build_manifests(s, delivery_date=day, now=now)
            return r.orders, manifest_service.receiving_lines(s, delivery_date=day, pickup_point_id=w["p1"])

    assert build() == (1, [(w["melon"], "麒麟西瓜 一个装约4斤", 1)])
    m = w["l1"].get(f"/leader/manifests/{day}").get_json()
    assert [p["order_id"] for p in m["pickups"]] == [o1["id"]]
    later = ahead + timedelta(minutes=1)
    assert build(later) == (2, [(w["melon"], "麒麟西瓜 一个装约4斤", 5)])
    assert build(later + timedelta(minutes=1)) == (2, [(w["melon"], "麒麟西瓜 一个装约4斤", 5)])


def test_a_group_buy_order_is_never_shipped_nor_on_a_manifest(app, world):
    w = world
    plain = paid_order(w["b1"], [w["melon"]], w["p1"])
    group = paid_order(w["b2"], [w["half"]], w["p1"], qty=3)
    with app.app_context(), transaction() as s:  # group-buy orders until the group-buy domain exists
        s.execute(update(Order).where(Order.id == group["id"]).values(source="group"))
    day = plain["delivery_date"]

    for _ in range(2):
        w["admin"].post(f"/admin/manifests/{day}/build")

    assert statuses(app, [plain["id"], group["id"]]) == {plain["id"]: "shipped", group["id"]: "paid"}
    m = w["l1"].get(f"/leader/manifests/{day}").get_json()
    assert [p["order_id"] for p in m["pickups"]] == [plain["id"]]
    assert [line["sku_id"] for line in m["receiving"]] == [w["melon"]]
    assert [s["sku_id"] for s in w["admin"].get(f"/admin/manifests/{day}").get_json()["skus"]] == [w["melon"]]


def test_a_leader_only_ever_sees_their_own_points_manifest(app, world):
    w = world
    mine = paid_order(w["b1"], [w["melon"]], w["p1"])
    day = mine["delivery_date"]
    w["admin"].post(f"/admin/manifests/{day}/build")

    theirs = w["l2"].get(f"/leader/manifests/{day}")

    # The other point had no orders: an empty manifest of its own, never this point's.
    assert theirs.status_code == 200
    body = theirs.get_json()
    assert body["pickup_point"]["id"] == w["p2"] and body["version"] == 0
    assert body["receiving"] == [] and body["pickups"] == []
    for fmt in ("csv", "pdf"):
        doc = w["l2"].get(f"/leader/manifests/{day}?format={fmt}").data
        assert "张阿姨".encode() not in doc
    assert w["b1"].get(f"/leader/manifests/{day}").status_code == 403
    assert w["l1"].get(f"/admin/manifests/{day}").status_code == 403


def test_the_pickup_list_masks_phones_and_is_sorted_by_their_last_four_digits(app, world, client):
    w = world
    b3 = login(client, "m-buyer-3", nickname="王老师")
    set_phone(app, w["b1"].user["id"], "13912349999")
    set_phone(app, w["b2"].user["id"], "13800001111")
    o1 = paid_order(w["b1"], [w["melon"]], w["p1"])
    o3 = paid_order(b3, [w["melon"]], w["p1"])
    o2 = paid_order(w["b2"], [w["melon"]], w["p1"])
    day = o1["delivery_date"]
    w["admin"].post(f"/admin/manifests/{day}/build")

    pickups = w["l1"].get(f"/leader/manifests/{day}").get_json()["pickups"]

    assert [(p["order_id"], p["buyer"]["phone"]) for p in pickups] == [
        (o2["id"], "138****1111"), (o1["id"], "139****9999"), (o3["id"], None)]


def test_the_csv_is_utf8_with_a_bom_and_holds_the_lists(app, world):
    w = world
    o = paid_order(w["b1"], [w["melon"]], w["p1"], qty=2)
    day = o["delivery_date"]
    w["admin"].post(f"/admin/manifests/{day}/build")

    r = w["l1"].get(f"/leader/manifests/{day}?format=csv")
    wh = w["admin"].get(f"/admin/manifests/{day}?format=csv")

    assert r.status_code == 200 and r.mimetype == "text/csv" and r.data.startswith(b"\xef\xbb\xbf")
    # The charset said once (it once read "text/csv; charset=utf-8; charset=utf-8").
    assert r.headers["Content-Type"] == wh.headers["Content-Type"] == "text/csv; charset=utf-8"
    text = r.data.decode("utf-8-sig")
    assert f"{w['melon']},麒麟西瓜 一个装约4斤,2\r\n" in text
    assert f"{o['id']},张阿姨,,{w['melon']},麒麟西瓜 一个装约4斤,2,0,,\r\n" in text
    assert "attachment" in r.headers["Content-Disposition"]
    assert wh.data.startswith(b"\xef\xbb\xbf")
    assert wh.data.decode("utf-8-sig").splitlines() == [
        "sku_id,商品,合计,pickup_point_id,自提点,数量",
        f"{w['melon']},麒麟西瓜 一个装约4斤,2,{w['p1']},幸福里自提点,2"]


def test_the_pdfs_are_a4_and_hold_the_chinese_product_names(app, world):
    w = world
    o = paid_order(w["b1"], [w["melon"], w["half"]], w["p1"])
    day = o["delivery_date"]
    w["admin"].post(f"/admin/manifests/{day}/build")

    for r in (w["l1"].get(f"/leader/manifests/{day}?format=pdf"), w["admin"].get(f"/admin/manifests/{day}?format=pdf")):
        assert r.status_code == 200 and r.mimetype == "application/pdf"
        pdf = PdfReader(io.BytesIO(r.data))
        page = pdf.pages[0]
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)  # A4 in pt
        text = "".join(p.extract_text() for p in pdf.pages)
        assert "麒麟西瓜 一个装约4斤" in text and "麒麟西瓜 半个装约2斤" in text
    leader_text = PdfReader(io.BytesIO(w["l1"].get(f"/leader/manifests/{day}?format=pdf").data)).pages[0].extract_text()
    assert "张阿姨" in leader_text and "幸福里自提点" in leader_text


def test_the_cli_and_the_queued_job_run_the_same_build(app, world, drain, monkeypatch):
    w = world
    o = paid_order(w["b1"], [w["melon"]], w["p1"])
    day = date.fromisoformat(o["delivery_date"])
    with app.app_context():
        assert jobs.enqueue_build(day) is True
        assert jobs.enqueue_build(day) is False  # the fixed job id: one queued build per date
    assert drain() == 1
    assert statuses(app, [o["id"]]) == {o["id"]: "shipped"}

    s = app.extensions["linli.settings"]
    monkeypatch.setenv("LINLI_DATABASE_URL", s.database_url)
    monkeypatch.setenv("LINLI_REDIS_URL", s.redis_url)
    monkeypatch.setenv("LINLI_ENV", "test")
    from app.cli import main

    result = CliRunner().invoke(main, ["manifests", "build", "--date", day.isoformat()])
    assert result.exit_code == 0, result.output
    assert '"version": 1' in result.output and '"orders_shipped": 0' in result.output


SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("local, expected", [
    (datetime(2026, 11, 22, 23, 30), date(2026, 11, 23)),  # the nightly run, after the 23:00 cut-off
    (datetime(2026, 11, 23, 0, 10), date(2026, 11, 23)),   # a late run after midnight: still the same date
    (datetime(2026, 11, 22, 23, 0), date(2026, 11, 23)),   # at the cut-off itself
    (datetime(2026, 11, 22, 22, 59), date(2026, 11, 22)),  # before it: tomorrow is still taking orders
    (datetime(2026, 12, 31, 23, 30), date(2027, 1, 1)),
])
def test_the_nightly_build_is_for_the_delivery_date_that_just_closed(local, expected):
    settings = Settings(env="test", timezone="Asia/Shanghai")
    now = local.replace(tzinfo=SHANGHAI).astimezone(timezone.utc)
    assert next_delivery_date_to_build(settings, now) == expected


def test_the_nightly_job_queues_the_build_of_tomorrow(app, world, drain):
    w = world
    o = paid_order(w["b1"], [w["melon"]], w["p1"])
    day = date.fromisoformat(o["delivery_date"])
    eve = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
    eve = eve.replace(day=day.day) - (eve - eve.replace(hour=0)) - __import__("datetime").timedelta(minutes=30)
    with app.app_context():
        assert jobs.build_nightly_manifests_job(now=eve) == day.isoformat()
    drain()
    assert statuses(app, [o["id"]]) == {o["id"]: "shipped"}
