"""Bargain use cases: create a campaign, start a record, help (a cut applied with a conditional
UPDATE on the price seen, retried on conflict), order once, expire at the deadline."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.auth import service as auth_service
from app.bargain.cuts import next_cut
from app.bargain.errors import (AlreadyHelped, AlreadyOrdered, AlreadyStarted, BargainNotFound, CannotHelpSelf,
                                Completed, CutConflict, Expired, FloorNotReached, HelpLimitReached, RecordNotFound)
from app.bargain.models import Bargain, BargainHelp, BargainRecord, RecordStatus
from app.catalog import campaigns
from app.catalog import service as catalog_service
from app.catalog.errors import OutOfStock
from app.config import Settings
from app.db import get_or_raise, utcnow
from app.errors import Ended, NotStarted, SoldOut, ValidationFailed
from app.notify import service as notify_service
from app.order import placing as order_placing
from app.order import rules as order_rules
from app.order.models import Order, OrderSource
from app.pagination import keyset

R = RecordStatus
SOURCE = OrderSource.bargain.value
CUT_ATTEMPTS = 20


def create_campaign(session: Session, *, sku_id: int, start_price: int, floor_price: int, helpers_needed: int,
                    duration_s: int, starts_at: datetime, ends_at: datetime, stock: int | None = None,
                    helps_per_day: int | None = None, buy_at_any_price: bool = True) -> Bargain:
    errors = campaigns.window_errors(starts_at, ends_at)
    if start_price - floor_price < helpers_needed:
        # Every cut is at least 1 fen: the gap must hold one per helper.
        errors.append({"loc": ["body", "floor_price"],
                       "msg": "start_price - floor_price must be at least helpers_needed fen"})
    if errors:
        raise ValidationFailed("The bargain is not consistent.", errors=errors)
    campaigns.carve_stock(session, sku_id=sku_id, stock=stock)
    campaign = Bargain(sku_id=sku_id, start_price=start_price, floor_price=floor_price,
                       helpers_needed=helpers_needed, duration_s=duration_s, starts_at=starts_at, ends_at=ends_at,
                       stock=stock, stock_left=stock, helps_per_day=helps_per_day,
                       buy_at_any_price=buy_at_any_price)
    session.add(campaign)
    session.flush()
    return campaign


def get_campaign(session: Session, campaign_id: int) -> Bargain:
    campaign = get_or_raise(session, Bargain, campaign_id, BargainNotFound(f"Bargain {campaign_id} does not exist."))
    return campaign


def list_campaigns(session: Session, *, now: datetime | None, before_id: int | None, limit: int) -> list[Bargain]:
    """Campaigns newest first; with now, only those not ended yet (the mini-program's page)."""
    q = select(Bargain)
    if now is not None:
        q = q.where(Bargain.ends_at > now)
    return list(session.exec(keyset(q, Bargain.id, before_id, limit)))


def campaign_sales(session: Session, campaign_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per campaign: (records started, records that became an order)."""
    if not campaign_ids:
        return {}
    rows = session.exec(select(BargainRecord.campaign_id, func.count(BargainRecord.id),
                               func.count(BargainRecord.order_id))
                        .where(BargainRecord.campaign_id.in_(campaign_ids))
                        .group_by(BargainRecord.campaign_id)).all()
    return {cid: (started, ordered) for cid, started, ordered in rows}


def campaign_state(campaign: Bargain, now: datetime) -> str:
    if now < campaign.starts_at:
        return "upcoming"
    return "running" if now < campaign.ends_at else "ended"


def get_record(session: Session, record_id: int) -> BargainRecord:
    record = get_or_raise(session, BargainRecord, record_id, RecordNotFound(f"Bargain record {record_id} does not exist."))
    return record


def start(session: Session, *, campaign_id: int, user_id: int) -> BargainRecord:
    campaign = get_campaign(session, campaign_id)
    now = utcnow()
    if now < campaign.starts_at:
        raise NotStarted(f"Bargain {campaign.id} has not started.")
    if now >= campaign.ends_at:
        raise Ended(f"Bargain {campaign.id} has ended.")
    record = BargainRecord(campaign_id=campaign.id, user_id=user_id, start_price=campaign.start_price,
                           current_price=campaign.start_price, floor_price=campaign.floor_price,
                           helpers_needed=campaign.helpers_needed, created_at=now,
                           expires_at=now + timedelta(seconds=campaign.duration_s))
    try:
        with session.begin_nested():
            session.add(record)
            session.flush()
    except IntegrityError:
        raise AlreadyStarted(f"You already have an active record in bargain {campaign.id}.") from None
    return record


def helps_of(session: Session, record_id: int) -> list[tuple[BargainHelp, str]]:
    helps = list(session.exec(select(BargainHelp).where(BargainHelp.record_id == record_id, BargainHelp.cut > 0)
                              .order_by(BargainHelp.id)))
    names = auth_service.nicknames(session, user_ids=[h.helper_id for h in helps])
    return [(h, names.get(h.helper_id, "")) for h in helps]


def _refuse_closed(record: BargainRecord, now: datetime) -> None:
    if record.status == R.completed.value or record.order_id is not None:
        raise Completed(f"Bargain record {record.id} has reached its floor price.")
    if record.status == R.expired.value or record.expires_at <= now:
        raise Expired(f"Bargain record {record.id} has expired.")


def help_cut(session: Session, *, settings: Settings, record_id: int, helper_id: int,
             rng=None) -> tuple[int, BargainRecord]:
    """One helper's cut. The help row's unique key makes it once per helper; the helper's row lock
    makes the per-day count exact; the price moves only by an UPDATE that matches the price and
    count this helper saw, so two helpers never cut from the same price."""
    record = get_record(session, record_id)
    now = utcnow()
    if record.user_id == helper_id:
        raise CannotHelpSelf("You cannot help your own bargain.")
    _refuse_closed(record, now)
    campaign = get_campaign(session, record.campaign_id)
    per_day = campaign.helps_per_day or settings.bargain_helps_per_day
    today = order_rules.local_today(settings, now)
    auth_service.lock_buyer(session, user_id=helper_id)
    done_today = session.exec(select(func.count(BargainHelp.id)).where(
        BargainHelp.helper_id == helper_id, BargainHelp.help_day == today)).one()
    if done_today >= per_day:
        raise HelpLimitReached(f"You can help {per_day} times a day.", helps_per_day=per_day)
    help_row = BargainHelp(record_id=record.id, helper_id=helper_id, help_day=today, created_at=now)
    try:
        with session.begin_nested():
            session.add(help_row)
            session.flush()
    except IntegrityError:
        raise AlreadyHelped(f"You have already helped bargain record {record.id}.") from None
    for _ in range(CUT_ATTEMPTS):
        session.refresh(record)
        _refuse_closed(record, now)
        seen, n = record.current_price, record.helpers_count
        cut = next_cut(seen - record.floor_price, record.helpers_needed - n, rng)
        last = n + 1 == record.helpers_needed
        values = dict(current_price=seen - cut, helpers_count=n + 1)
        if last:
            values.update(status=R.completed.value, completed_at=now)
        moved = session.exec(update(BargainRecord).where(
            BargainRecord.id == record.id, BargainRecord.status == R.active.value,
            BargainRecord.current_price == seen, BargainRecord.helpers_count == n, BargainRecord.expires_at > now,
            BargainRecord.order_id.is_(None))
            .values(**values).execution_options(synchronize_session=False)).rowcount
        if moved:
            help_row.cut = cut
            session.add(help_row)
            session.flush()
            session.refresh(record)
            if last:
                notify_service.notify(session, user_id=record.user_id, event="bargain.completed",
                                      data={"record_id": record.id, "price": record.current_price},
                                      title="砍价成功",
                                      body=f"好友已帮您砍到底价 {record.current_price / 100:.2f} 元，"
                                           "快去下单吧。")
            return cut, record
    raise CutConflict("Too many helpers at once; try again.")


def place_order(session: Session, *, settings: Settings, record_id: int, user_id: int,
                pickup_point_id: int | None) -> Order:
    """The record's one order, at its current price (or only at the floor, as the campaign says)."""
    record = get_record(session, record_id)
    if record.user_id != user_id:
        raise RecordNotFound(f"Bargain record {record_id} does not exist.")
    now = utcnow()
    if record.order_id is not None:
        raise AlreadyOrdered(f"Bargain record {record.id} has its order already.", order_id=record.order_id)
    if record.status == R.expired.value or record.expires_at <= now:
        raise Expired(f"Bargain record {record.id} has expired.")
    campaign = get_campaign(session, record.campaign_id)
    if not campaign.buy_at_any_price and record.status != R.completed.value:
        raise FloorNotReached("This bargain sells only at its floor price.")
    if campaign.stock is not None:
        taken = session.exec(update(Bargain).where(Bargain.id == campaign.id, Bargain.stock_left >= 1)
                             .values(stock_left=Bargain.stock_left - 1)
                             .execution_options(synchronize_session=False)).rowcount
        if not taken:
            raise SoldOut(f"Bargain {campaign.id} is sold out.")
    price = record.current_price
    order = order_placing.place_order(
        session, settings=settings, buyer_id=user_id,
        lines=[order_placing.Line(sku_id=campaign.sku_id, qty=1, unit_price=price)],
        pickup_point_id=pickup_point_id, source=SOURCE, source_ref=str(record.id),
        take_sku_stock=campaign.stock is None)
    # Conditional on the price and the missing order: a cut landing meanwhile, or a second order,
    # makes this match nothing, and the whole use case is rolled back.
    won = session.exec(update(BargainRecord).where(BargainRecord.id == record.id, BargainRecord.order_id.is_(None),
                                                   BargainRecord.current_price == price)
                       .values(order_id=order.id, active_slot=None)
                       .execution_options(synchronize_session=False)).rowcount
    if not won:
        raise AlreadyOrdered(f"Bargain record {record.id} changed or has its order already; try again.")
    session.refresh(record)
    return order


def units_back_to_campaign(session: Session, order: Order) -> None:
    """The order domain gives a bargain order's unit back to the SKU; when the campaign has a stock
    of its own the unit is the campaign's, so it moves on to it (only if the SKU still holds it)."""
    record = session.exec(select(BargainRecord).where(BargainRecord.order_id == order.id)).first()
    if record is None or order.shipped_at is not None:
        return
    campaign = get_campaign(session, record.campaign_id)
    if campaign.stock is None:
        return
    try:
        with session.begin_nested():
            catalog_service.take_stock(session, sku_id=campaign.sku_id, qty=1)
    except OutOfStock:
        return
    session.exec(update(Bargain).where(Bargain.id == campaign.id).values(stock_left=Bargain.stock_left + 1)
                 .execution_options(synchronize_session=False))


def expire_due(session: Session, *, now: datetime) -> int:
    """Records past their deadline without an order expire (and free the user's slot)."""
    return session.exec(update(BargainRecord).where(
        BargainRecord.status.in_([R.active.value, R.completed.value]), BargainRecord.order_id.is_(None),
        BargainRecord.expires_at <= now)
        .values(status=R.expired.value, active_slot=None).execution_options(synchronize_session=False)).rowcount
