"""Building manifests (set-based, in the database) and reading them back for the documents.

The build never loads an order as an object: it ships with one UPDATE (the order domain's),
aggregates the receiving / picking lines with one INSERT … SELECT … GROUP BY and the points'
manifests with another. The pickup lists are not copied: they are read from the shipped orders
(see build_manifests). Manifests only read the order, user and pickup-point tables; the one
write to orders goes through the order service.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Integer, and_, case, exists, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from app.auth.models import User
from app.config import Settings
from app.db import utcnow
from app.leader.models import Leader
from app.manifest.errors import DeliveryDateOutOfRange, ManifestNotBuilt
from app.manifest.models import ManifestLine, PointManifest, WarehouseManifest
from app.notify import service as notify_service
from app.order import rules as order_rules
from app.order import transitions as order_transitions
from app.order.models import Order, OrderItem
from app.pickup.models import PickupPoint

W = WarehouseManifest.__table__
P = PointManifest.__table__
L = ManifestLine.__table__
O = Order.__table__
I = OrderItem.__table__  # noqa: E741
U = User.__table__
PP = PickupPoint.__table__

MANIFEST_READY = "manifest_ready"


@dataclass
class BuildSummary:
    delivery_date: date
    version: int
    built_at: datetime | None
    points: int  # pickup points with a manifest for the date
    points_changed: int  # of which got a new version in this build
    orders: int  # orders on the date's manifests
    orders_shipped: int  # orders this build moved from paid to shipped


def next_delivery_date_to_build(settings: Settings, now: datetime) -> date:
    """The delivery date the nightly build is for: the latest date that no longer takes orders.

    At 23:30 on day D orders are being dated D+2 (past the 23:00 cut-off), so D+1 is closed and
    is built; a run that starts late, after midnight, still builds D+1 (orders are still dated
    D+2 until 23:00), so a scheduler that was down a few minutes loses nothing."""
    return order_rules.delivery_date_for(now, settings) - timedelta(days=1)


# A build on demand reaches back this far (a missed night, a late rebuild) and ahead no further
# than the date orders are being given now: nothing can be dated later.
BUILD_DAYS_BACK = 31


def check_build_date(settings: Settings, delivery_date: date, now: datetime | None = None) -> None:
    """422 delivery_date_out_of_range for a date someone asked to build (the API, the CLI) that
    is more than BUILD_DAYS_BACK days before today or later than the latest date an order placed
    now would carry (business time zone). The nightly job computes its date and needs no check."""
    now = now or utcnow()
    earliest = order_rules.local_today(settings, now) - timedelta(days=BUILD_DAYS_BACK)
    latest = order_rules.delivery_date_for(now, settings)
    if not earliest <= delivery_date <= latest:
        raise DeliveryDateOutOfRange(
            f"{delivery_date} is outside the dates that can be built now ({earliest} to {latest}): no order "
            f"is dated later than {latest}, and builds reach back {BUILD_DAYS_BACK} days.",
            earliest=earliest.isoformat(), latest=latest.isoformat())


def _masked_phone(phone):
    # 13912340000 → 139****0000: enough for the buyer to recognise, not enough to call.
    return case((func.length(phone) >= 7,
                 func.substr(phone, 1, 3).concat("****").concat(func.substr(phone, func.length(phone) - 3, 4))),
                (func.length(phone) > 0, literal("****")), else_=None)


def _phone_tail(phone):
    return case((func.length(phone) >= 7, func.substr(phone, func.length(phone) - 3, 4)), else_=None)


def _dialect_insert(session: Session, table):
    """INSERT with ON CONFLICT (both databases spell it the same; SQLAlchemy has one per dialect)."""
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)


def _take_build_lock(session: Session, delivery_date: date):
    """Create the date's warehouse row if missing and lock it: concurrent builds of one date
    queue here (PostgreSQL: the unique key, then FOR UPDATE; SQLite serialises writers anyway)."""
    session.execute(_dialect_insert(session, W)
                    .values(delivery_date=delivery_date, version=0, order_count=0, point_count=0)
                    .on_conflict_do_nothing(index_elements=["delivery_date"]))
    return session.execute(select(W).where(W.c.delivery_date == delivery_date).with_for_update()).one()


def build_manifests(session: Session, *, delivery_date: date, now: datetime | None = None) -> BuildSummary:
    """Ship the date's paid orders and (re)build the manifests they change. Safe to run any
    number of times: a run that ships nothing new and finds no order shipped since the last
    build changes nothing (same versions, same lines).

    Nothing is copied per order: a point's pickup list is read from its orders shipped up to its
    manifest's built_at (the orders and their items are the record; they never change once
    placed), so the build writes one row per (point, SKU) and one per point, not one per order.
    An order on a version of the list is one shipped at or before that version was built; the
    orders a build adds are those shipped after the previous build (by it, or by other means
    since), which is what makes the rebuild cost in proportion to what it adds."""
    now = now or utcnow()
    warehouse = _take_build_lock(session, delivery_date)
    shipped = order_transitions.ship_for_delivery(session, delivery_date=delivery_date, now=now)

    first = warehouse.version == 0
    # (shipped_at <= now: an order stamped later, by a clock ahead of ours, is the next build's,
    # as it is off this version's pickup list; counting it now would count it twice.)
    listed = [O.c.delivery_date == delivery_date, O.c.shipped_at.is_not(None), O.c.shipped_at <= now]
    if first:
        new = listed
    else:
        new = [*listed, O.c.shipped_at > warehouse.built_at]
        if not session.execute(select(exists().where(*new))).scalar():
            return summary(session, delivery_date=delivery_date, orders_shipped=shipped)

    # The receiving lines (and, read by SKU, the picking list) in one INSERT … SELECT … GROUP BY.
    # A rebuild adds what the newly listed orders carry to the points' SKU lines (an upsert).
    # Grouped by point_id + 0, not point_id: SQLite would otherwise walk the orders through the
    # (point, date, code) index to have them by point and look each row up in the table for
    # shipped_at, in no useful order (twice the time of reading the table; the GROUP BY sorts
    # anyway). PostgreSQL hashes either way.
    point = (O.c.pickup_point_id + 0).label("pickup_point_id")
    lines = (select(literal(delivery_date, L.c.delivery_date.type), point, I.c.sku_id,
                    func.max(I.c.product_name).concat(" ").concat(func.max(I.c.sku_name)).label("name"),
                    # units an operator refunded before the build are not picked
                    func.sum(I.c.qty - I.c.refunded_qty).label("qty"))
             .select_from(I.join(O, O.c.id == I.c.order_id)).where(*new)
             .group_by(point, I.c.sku_id).having(func.sum(I.c.qty - I.c.refunded_qty) > 0))
    columns = ["delivery_date", "pickup_point_id", "sku_id", "name", "qty"]
    if first:
        session.execute(insert(L).from_select(columns, lines))
    else:
        ins = _dialect_insert(session, L).from_select(columns, lines)
        session.execute(ins.on_conflict_do_update(index_elements=["delivery_date", "pickup_point_id", "sku_id"],
                                                  set_={"qty": L.c.qty + ins.excluded.qty}))

    # One row per point with new orders: a new one at version 1, or the next version of its row.
    counts = (select(literal(delivery_date, P.c.delivery_date.type), point,
                     literal(1, Integer), literal(now, P.c.built_at.type), func.count())
              .where(*new).group_by(point))
    cols = ["delivery_date", "pickup_point_id", "version", "built_at", "order_count"]
    if first:
        session.execute(insert(P).from_select(cols, counts))
    else:
        ins = _dialect_insert(session, P).from_select(cols, counts)
        session.execute(ins.on_conflict_do_update(
            index_elements=["delivery_date", "pickup_point_id"],
            set_={"version": P.c.version + 1, "built_at": now, "order_count": P.c.order_count + ins.excluded.order_count}))
    points = select(func.count(), func.coalesce(func.sum(P.c.order_count), 0)).where(P.c.delivery_date == delivery_date)
    point_count, order_count = session.execute(points).one()
    session.execute(update(W).where(W.c.delivery_date == delivery_date).values(
        version=W.c.version + 1, built_at=now, order_count=order_count, point_count=point_count))

    changed_count = session.execute(select(func.count()).select_from(P)
                                    .where(P.c.delivery_date == delivery_date, P.c.built_at == now)).scalar()
    return summary(session, delivery_date=delivery_date, orders_shipped=shipped, points_changed=changed_count)


def claim_ready(session: Session, *, delivery_date: date) -> list[tuple[int, int, int]]:
    """The (leader user id, pickup point id, version) of every point manifest whose leader has
    not been told about its current version, claimed in one conditional UPDATE so that each
    version is announced once even if the notification job runs twice or twice at once."""
    claimed = session.execute(update(P).where(P.c.delivery_date == delivery_date, P.c.notified_version < P.c.version)
                              .values(notified_version=P.c.version)
                              .returning(P.c.pickup_point_id, P.c.version)).all()
    versions = dict(claimed)
    if not versions:
        return []
    LD = Leader.__table__
    # The date's points and their leaders (joined, not an IN list: thousands of ids would pass
    # SQLite's limit on bound parameters), kept to those just claimed.
    points = P.join(PP, PP.c.id == P.c.pickup_point_id).join(LD, LD.c.id == PP.c.leader_id)
    leaders = session.execute(select(PP.c.id, LD.c.user_id).select_from(points)
                              .where(P.c.delivery_date == delivery_date)).all()
    return sorted((user_id, point_id, versions[point_id]) for point_id, user_id in leaders if point_id in versions)


def notify_leaders(session: Session, *, delivery_date: date) -> int:
    """Tell each leader whose point manifest has a version they were not told about."""
    ready = claim_ready(session, delivery_date=delivery_date)
    for user_id, point_id, version in ready:
        notify_service.notify(session, user_id=user_id, event=MANIFEST_READY,
                              data={"delivery_date": delivery_date, "pickup_point_id": point_id, "version": version},
                              title="提货清单已生成" if version == 1 else f"提货清单已更新（第 {version} 版）",
                              body=f"{delivery_date} 的收货清单和提货清单可以查看和打印了。")
    return len(ready)


def summary(session: Session, *, delivery_date: date, orders_shipped: int = 0, points_changed: int = 0) -> BuildSummary:
    w = session.execute(select(W).where(W.c.delivery_date == delivery_date)).one_or_none()
    if w is None or w.version == 0:
        raise ManifestNotBuilt(f"The manifests for {delivery_date} have not been built yet.")
    return BuildSummary(delivery_date=delivery_date, version=w.version, built_at=w.built_at, points=w.point_count,
                        points_changed=points_changed, orders=w.order_count, orders_shipped=orders_shipped)


# ---- reading them back ------------------------------------------------------------------------

@dataclass
class PointHeader:
    delivery_date: date
    pickup_point_id: int
    pickup_point_name: str
    version: int
    built_at: datetime


def point_header(session: Session, *, delivery_date: date, pickup_point_id: int) -> PointHeader:
    """404 manifest_not_built until the date's build ran. After it, a point that had no orders
    gets an empty manifest at version 0 rather than a "not built" that would be untrue."""
    w = summary(session, delivery_date=delivery_date)
    row = session.execute(select(P.c.version, P.c.built_at, PP.c.name)
                          .select_from(PP.join(P, and_(P.c.pickup_point_id == PP.c.id,
                                                       P.c.delivery_date == delivery_date), isouter=True))
                          .where(PP.c.id == pickup_point_id)).one_or_none()
    if row is None:
        raise ManifestNotBuilt(f"No manifest for pickup point {pickup_point_id} on {delivery_date}.")
    version, built_at, name = row
    return PointHeader(delivery_date=delivery_date, pickup_point_id=pickup_point_id, pickup_point_name=name,
                       version=version or 0, built_at=built_at or w.built_at)


def receiving_lines(session: Session, *, delivery_date: date, pickup_point_id: int) -> list[tuple[int, str, int]]:
    return [tuple(r) for r in session.execute(
        select(L.c.sku_id, L.c.name, L.c.qty).where(L.c.delivery_date == delivery_date,
                                                    L.c.pickup_point_id == pickup_point_id).order_by(L.c.sku_id))]


@dataclass
class PickupEntry:
    order_id: int
    buyer: str
    phone: str | None
    note: str | None
    status: str
    # (sku_id, name, units left to hand over, units ordered, units refunded)
    items: list[tuple[int, str, int, int, int]]


def pickup_entries(session: Session, *, delivery_date: date, pickup_point_id: int) -> list[PickupEntry]:
    """The pickup list in hand-out order. Leaders never see pickup codes (the buyer shows one to
    prove it is them), so the list is sorted the way buyers are asked at the counter in
    community group-buying: by the phone's last four digits (手机尾号), then nickname; buyers
    with no phone come last, by nickname.

    The orders are those shipped to the point for the date up to its manifest's built_at (one
    shipped by other means since is on the next version); the buyer's name and masked phone are
    read as they are now, and so are the units refunded since (a shortage, an after-sales
    refund, an operator's refund by line): each line says what is left to hand over, and an
    order refunded in full (nothing left) is not on the list. One point's orders: an indexed
    read (orders by point and date)."""
    tail = _phone_tail(U.c.phone)
    rows = session.execute(
        select(O.c.id, U.c.nickname, _masked_phone(U.c.phone), O.c.note, O.c.status, I.c.sku_id,
               I.c.product_name.concat(" ").concat(I.c.sku_name), I.c.qty, I.c.refunded_qty)
        .select_from(P.join(O, and_(O.c.pickup_point_id == P.c.pickup_point_id, O.c.delivery_date == P.c.delivery_date))
                     .join(U, U.c.id == O.c.buyer_id).join(I, I.c.order_id == O.c.id))
        .where(P.c.delivery_date == delivery_date, P.c.pickup_point_id == pickup_point_id,
               O.c.shipped_at.is_not(None), O.c.shipped_at <= P.c.built_at,
               O.c.status != order_rules.S.refunded.value)
        .order_by(tail.is_(None), tail, U.c.nickname, O.c.id, I.c.sku_id))
    out: list[PickupEntry] = []
    for order_id, buyer, phone, note, status, sku_id, name, qty, refunded in rows:
        if not out or out[-1].order_id != order_id:
            out.append(PickupEntry(order_id=order_id, buyer=buyer, phone=phone, note=note, status=status, items=[]))
        out[-1].items.append((sku_id, name, qty - refunded, qty, refunded))
    return [e for e in out if any(left > 0 for _, _, left, _, _ in e.items)]


def picking_rows(session: Session, *, delivery_date: date) -> Iterator[tuple[int, str, int, str, int]]:
    """(sku_id, name, pickup_point_id, point name, qty) by SKU then point, streamed."""
    result = session.execute(
        select(L.c.sku_id, L.c.name, L.c.pickup_point_id, PP.c.name, L.c.qty)
        .select_from(L.join(PP, PP.c.id == L.c.pickup_point_id))
        .where(L.c.delivery_date == delivery_date).order_by(L.c.sku_id, L.c.pickup_point_id)
        .execution_options(yield_per=5000))
    for row in result:
        yield tuple(row)
