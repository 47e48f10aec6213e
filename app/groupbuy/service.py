"""Group-buy use cases: create a campaign, open and join groups, count paid members (one
conditional UPDATE, so a group never exceeds its size), succeed or fail at the deadline."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.auth import service as auth_service
from app.catalog import campaigns
from app.catalog import service as catalog_service
from app.catalog.errors import OutOfStock
from app.config import Settings, current_settings
from app.db import get_or_raise, utcnow
from app.errors import Ended, LimitExceeded, NotStarted, SoldOut, ValidationFailed
from app.groupbuy.errors import AlreadyMember, AlreadyOpen, GroupBuyNotFound, GroupClosed, GroupFull, GroupNotFound
from app.groupbuy.models import Group, GroupBuy, GroupMember, GroupStatus
from app.leader import service as leader_service
from app.notify import service as notify_service
from app.order import placing as order_placing
from app.order import rules as order_rules
from app.order import transitions as order_transitions
from app.order.models import Order, OrderSource, OrderStatus
from app.queue import enqueue

log = logging.getLogger(__name__)
G = GroupStatus
OS = OrderStatus
SOURCE = OrderSource.group.value


# ---- campaigns ------------------------------------------------------------------------------

def create_campaign(session: Session, *, sku_id: int, group_price: int, group_size: int, duration_s: int,
                    starts_at: datetime, ends_at: datetime, opener_price: int | None = None,
                    per_user_limit: int | None = None, stock: int | None = None,
                    virtual_fill_max_missing: int = 0) -> GroupBuy:
    errors = campaigns.window_errors(starts_at, ends_at)
    if opener_price is not None and opener_price > group_price:
        errors.append({"loc": ["body", "opener_price"], "msg": "the opener's price is at most the group price"})
    if virtual_fill_max_missing >= group_size:
        errors.append({"loc": ["body", "virtual_fill_max_missing"], "msg": "must be below group_size"})
    if errors:
        raise ValidationFailed("The campaign is not consistent.", errors=errors)
    campaigns.carve_stock(session, sku_id=sku_id, stock=stock)
    campaign = GroupBuy(sku_id=sku_id, group_price=group_price, opener_price=opener_price, group_size=group_size,
                        duration_s=duration_s, starts_at=starts_at, ends_at=ends_at, per_user_limit=per_user_limit,
                        stock=stock, stock_left=stock, virtual_fill_max_missing=virtual_fill_max_missing)
    session.add(campaign)
    session.flush()
    return campaign


def active_campaigns(session: Session, *, now: datetime | None = None) -> list[GroupBuy]:
    now = now or utcnow()
    return list(session.exec(select(GroupBuy).where(GroupBuy.starts_at <= now, GroupBuy.ends_at > now)
                             .order_by(GroupBuy.id)))


def get_campaign(session: Session, campaign_id: int) -> GroupBuy:
    campaign = get_or_raise(session, GroupBuy, campaign_id, GroupBuyNotFound(f"Group-buy {campaign_id} does not exist."))
    return campaign


def get_group(session: Session, group_id: int) -> Group:
    group = get_or_raise(session, Group, group_id, GroupNotFound(f"Group {group_id} does not exist."))
    return group


# ---- opening and joining ----------------------------------------------------------------------

def _check_window(campaign: GroupBuy, now: datetime) -> None:
    if now < campaign.starts_at:
        raise NotStarted(f"Group-buy {campaign.id} has not started.")
    if now >= campaign.ends_at:
        raise Ended(f"Group-buy {campaign.id} has ended.")


def _take_units(session: Session, *, campaign: GroupBuy, buyer_id: int, qty: int) -> None:
    """The buyer's limit and the campaign's own stock. The buyer's row is locked first, so this
    buyer's memberships are counted one request after another (exact under concurrency)."""
    auth_service.lock_buyer(session, user_id=buyer_id)
    if campaign.per_user_limit is not None:
        held = session.exec(select(func.coalesce(func.sum(GroupMember.qty), 0))
                            .join(Order, Order.id == GroupMember.order_id)
                            .where(GroupMember.campaign_id == campaign.id, GroupMember.user_id == buyer_id,
                                   Order.status.not_in([OS.cancelled.value, OS.refunded.value]))).one()
        if held + qty > campaign.per_user_limit:
            raise LimitExceeded(f"At most {campaign.per_user_limit} units per buyer in this group-buy.",
                                per_user_limit=campaign.per_user_limit)
    if campaign.stock is not None:
        taken = session.exec(update(GroupBuy).where(GroupBuy.id == campaign.id, GroupBuy.stock_left >= qty)
                             .values(stock_left=GroupBuy.stock_left - qty)
                             .execution_options(synchronize_session=False)).rowcount
        if not taken:
            raise SoldOut(f"Group-buy {campaign.id} has fewer than {qty} units left.")


def _member_order(session: Session, *, settings: Settings, campaign: GroupBuy, group: Group, buyer_id: int,
                  qty: int, pickup_point_id: int | None, opener: bool) -> tuple[GroupMember, Order]:
    member = GroupMember(group_id=group.id, campaign_id=campaign.id, user_id=buyer_id, qty=qty, is_opener=opener)
    try:
        with session.begin_nested():  # the unique key is the "joins once" rule
            session.add(member)
            session.flush()
    except IntegrityError:
        raise AlreadyMember(f"You are already in group {group.id}.") from None
    _take_units(session, campaign=campaign, buyer_id=buyer_id, qty=qty)
    price = campaign.opener_price if opener and campaign.opener_price is not None else campaign.group_price
    order = order_placing.place_order(
        session, settings=settings, buyer_id=buyer_id,
        lines=[order_placing.Line(sku_id=campaign.sku_id, qty=qty, unit_price=price)],
        pickup_point_id=pickup_point_id, source=SOURCE, source_ref=str(group.id),
        take_sku_stock=campaign.stock is None, dated=False)  # dated when the group succeeds
    member.order_id = order.id
    session.add(member)
    session.flush()
    return member, order


def open_group(session: Session, *, settings: Settings, campaign_id: int, buyer_id: int, qty: int,
               pickup_point_id: int | None) -> tuple[Group, Order]:
    campaign = get_campaign(session, campaign_id)
    now = utcnow()
    _check_window(campaign, now)
    # The buyer's row first, before any insert that references it (each takes a key-share lock
    # on it): two requests of one buyer then queue here instead of deadlocking.
    auth_service.lock_buyer(session, user_id=buyer_id)
    group = Group(campaign_id=campaign.id, opener_id=buyer_id, group_size=campaign.group_size,
                  expires_at=now + timedelta(seconds=campaign.duration_s), created_at=now)
    try:
        with session.begin_nested():
            session.add(group)
            session.flush()
    except IntegrityError:
        raise AlreadyOpen(f"You already have a forming group in group-buy {campaign.id}.") from None
    _, order = _member_order(session, settings=settings, campaign=campaign, group=group, buyer_id=buyer_id,
                             qty=qty, pickup_point_id=pickup_point_id, opener=True)
    enqueue("app.groupbuy.jobs.close_group_job", group.id, job_id=f"close-group-{group.id}", at=group.expires_at)
    return group, order


def join_group(session: Session, *, settings: Settings, group_id: int, buyer_id: int, qty: int,
               pickup_point_id: int | None) -> tuple[Group, Order]:
    group = get_group(session, group_id)
    # Early answers for the share page; the paid hook's conditional UPDATE is what guarantees.
    if group.status != G.forming.value or group.expires_at <= utcnow():
        raise GroupClosed(f"Group {group.id} is {group.status if group.status != 'forming' else 'past its deadline'}.")
    if group.paid_count >= group.group_size:
        raise GroupFull(f"Group {group.id} is full.")
    campaign = get_campaign(session, group.campaign_id)
    auth_service.lock_buyer(session, user_id=buyer_id)  # before the member's insert (see open_group)
    _, order = _member_order(session, settings=settings, campaign=campaign, group=group, buyer_id=buyer_id,
                             qty=qty, pickup_point_id=pickup_point_id, opener=False)
    return group, order


# ---- reading ------------------------------------------------------------------------------------

def share_view(session: Session, *, group_id: int) -> tuple[Group, GroupBuy, list[str]]:
    """The group, its campaign and the nicknames of members whose orders are alive (unpaid or paid)."""
    group = get_group(session, group_id)
    campaign = get_campaign(session, group.campaign_id)
    rows = session.exec(select(GroupMember.user_id).join(Order, Order.id == GroupMember.order_id)
                        .where(GroupMember.group_id == group.id,
                               Order.status.not_in([OS.cancelled.value, OS.refunded.value]))
                        .order_by(GroupMember.id)).all()
    names = auth_service.nicknames(session, user_ids=list(rows))
    return group, campaign, [names.get(u, "") for u in rows]


# ---- the order's events ------------------------------------------------------------------------

def _member_of(session: Session, order: Order) -> GroupMember | None:
    return session.exec(select(GroupMember).where(GroupMember.order_id == order.id)).first()


def count_paid_member(session: Session, order: Order) -> str | None:
    """One conditional UPDATE fills the group: it matches only while the group is forming, before
    its deadline and below its size. Matching nothing refuses the payment, which the payment
    domain records and refunds (never lost, never rolled back)."""
    member = _member_of(session, order)
    if member is None:
        return "not_a_member"
    now = utcnow()
    counted = session.exec(update(Group).where(Group.id == member.group_id, Group.status == G.forming.value,
                                               Group.expires_at > now, Group.paid_count < Group.group_size)
                           .values(paid_count=Group.paid_count + 1)
                           .execution_options(synchronize_session=False)).rowcount
    if not counted:
        group = get_group(session, member.group_id)
        session.refresh(group)
        return "group_full" if group.status == G.succeeded.value or group.paid_count >= group.group_size \
            else "group_closed"
    _succeed(session, group_id=member.group_id, now=now, settings=current_settings())
    return None


def uncount_refunded_member(session: Session, order: Order) -> None:
    """A paid member who leaves a forming group frees the place, in the refund's transaction."""
    member = _member_of(session, order)
    if member is None:
        return
    session.exec(update(Group).where(Group.id == member.group_id, Group.status == G.forming.value,
                                     Group.paid_count > 0)
                 .values(paid_count=Group.paid_count - 1).execution_options(synchronize_session=False))
    _units_back_to_campaign(session, member=member, order=order)


def unpaid_member_cancelled(session: Session, order: Order) -> None:
    member = _member_of(session, order)
    if member is not None:
        _units_back_to_campaign(session, member=member, order=order)


def _units_back_to_campaign(session: Session, *, member: GroupMember, order: Order) -> None:
    """The order domain gives a group order's units back to the SKU; when the campaign has a stock
    of its own they are the campaign's, so they move on to it (only what the SKU still holds: units
    already sold on again stay sold, never counted twice)."""
    campaign = get_campaign(session, member.campaign_id)
    if campaign.stock is None or order.shipped_at is not None:
        return
    try:
        with session.begin_nested():
            catalog_service.take_stock(session, sku_id=campaign.sku_id, qty=member.qty)
    except OutOfStock:
        return
    session.exec(update(GroupBuy).where(GroupBuy.id == campaign.id)
                 .values(stock_left=GroupBuy.stock_left + member.qty)
                 .execution_options(synchronize_session=False))


# ---- success and failure -----------------------------------------------------------------------

def _orders_of(session: Session, group_id: int, status: OrderStatus, *, undated_only: bool = False) -> list[Order]:
    """The group's orders in a status, locked, skipping those another transaction holds.

    A payment or a refund locks its order first and the group second; settling locks the group
    first and then the orders. Waiting here would deadlock, so a held order is left to its own
    transaction (a payment is then refused by the closed group, a refund completes) and, should it
    roll back instead, to the sweep (`unsettled_groups`)."""
    q = (select(Order).join(GroupMember, GroupMember.order_id == Order.id)
         .where(GroupMember.group_id == group_id, Order.status == status.value))
    if undated_only:
        q = q.where(Order.delivery_date.is_(None))
    return list(session.exec(q.order_by(Order.id).with_for_update(skip_locked=True, of=Order)))


def settle_members(session: Session, *, group_id: int, settings: Settings) -> list[Order]:
    """Bring a closed group's orders in line with it: a succeeded group's paid orders dated by the
    cut-off rule at the moment it succeeded (and given pickup codes), a failed group's paid orders
    refunded through the payment path (once: the order moves paid → refunded once), unpaid orders
    of either cancelled. Returns the paid orders it settled. Safe to run again."""
    group = get_group(session, group_id)
    session.refresh(group)  # its status was just moved by a conditional UPDATE
    if group.status == G.forming.value:
        return []
    if group.status == G.succeeded.value:
        day = order_rules.delivery_date_for(group.closed_at, settings)
        paid = _orders_of(session, group_id, OS.paid, undated_only=True)
        for order in paid:
            order_transitions.set_delivery_date(session, order_id=order.id, delivery_date=day)
        reason = "group_full"
    else:
        paid = _orders_of(session, group_id, OS.paid)
        for order in paid:
            # The payment domain's "refunded" hook refunds this member's own payment.
            order_transitions.mark_refunded(session, order_id=order.id, allowed_from=(OS.paid,), reason="group_failed")
        reason = "group_failed"
    for order in _orders_of(session, group_id, OS.pending_payment):
        order_transitions.cancel_unpaid(session, order_id=order.id, reason=reason)
    return paid


def _succeed(session: Session, *, group_id: int, now: datetime, settings: Settings,
             virtual_fill_max_missing: int = 0) -> bool:
    """forming → succeeded once paid members reach the size (or, at the deadline, miss at most
    virtual_fill_max_missing of it): paid orders are dated by the cut-off rule at this moment and
    get their pickup codes; the full group's unpaid orders are cancelled."""
    cond = [Group.id == group_id, Group.status == G.forming.value]
    if virtual_fill_max_missing:
        cond += [Group.paid_count > 0, Group.paid_count + virtual_fill_max_missing >= Group.group_size]
    else:
        cond.append(Group.paid_count >= Group.group_size)
    won = session.exec(update(Group).where(*cond)
                       .values(status=G.succeeded.value, open_slot=None, closed_at=now,
                               virtual_fill=bool(virtual_fill_max_missing))
                       .execution_options(synchronize_session=False)).rowcount
    if not won:
        return False
    paid = settle_members(session, group_id=group_id, settings=settings)
    day = order_rules.delivery_date_for(now, settings).isoformat()
    _tell(session, group_id=group_id, orders=paid, event="group.succeeded", title="拼团成功",
          body=f"您参与的拼团已成团，预计 {day} 到自提点提货。",
          leader_body=f"一个拼团已成团，{len(paid)} 笔订单将于 {day} 送达您的自提点。",
          data={"group_id": group_id, "delivery_date": day})
    return True


def close_group(session: Session, *, group_id: int, settings: Settings, now: datetime | None = None) -> str | None:
    """At the deadline: succeed with virtual fill if the campaign allows, else fail, refunding every
    paid member through the payment path and cancelling unpaid orders. Safe to run twice (the
    status UPDATE is conditional); None if the group was not due or already closed."""
    now = now or utcnow()
    group = session.get(Group, group_id)
    if group is None or group.status != G.forming.value or group.expires_at > now:
        return None
    campaign = get_campaign(session, group.campaign_id)
    if campaign.virtual_fill_max_missing and _succeed(session, group_id=group_id, now=now, settings=settings,
                                                      virtual_fill_max_missing=campaign.virtual_fill_max_missing):
        return G.succeeded.value
    won = session.exec(update(Group).where(Group.id == group_id, Group.status == G.forming.value,
                                           Group.expires_at <= now)
                       .values(status=G.failed.value, open_slot=None, closed_at=now)
                       .execution_options(synchronize_session=False)).rowcount
    if not won:
        return None
    paid = settle_members(session, group_id=group_id, settings=settings)
    _tell(session, group_id=group_id, orders=paid, event="group.failed", title="拼团失败",
          body="很遗憾，您参与的拼团未能在时限内成团，款项将原路退回。",
          leader_body=f"一个拼团未能成团，{len(paid)} 笔已付款订单已退款。",
          data={"group_id": group_id})
    return G.failed.value


def unsettled_groups(session: Session, *, limit: int = 500) -> list[int]:
    """Closed groups with an order left behind by settle_members (held by a transaction that
    then rolled back): a failed group's paid or unpaid order, a succeeded group's unpaid or
    undated paid order."""
    left = or_(and_(Group.status == G.failed.value, Order.status.in_([OS.paid.value, OS.pending_payment.value])),
               and_(Group.status == G.succeeded.value,
                    or_(Order.status == OS.pending_payment.value,
                        and_(Order.status == OS.paid.value, Order.delivery_date.is_(None)))))
    return list(session.exec(select(Group.id).join(GroupMember, GroupMember.group_id == Group.id)
                             .join(Order, Order.id == GroupMember.order_id).where(left).distinct()
                             .order_by(Group.id).limit(limit)))


def due_groups(session: Session, *, now: datetime, limit: int = 500) -> list[int]:
    return list(session.exec(select(Group.id).where(Group.status == G.forming.value, Group.expires_at <= now)
                             .order_by(Group.expires_at).limit(limit)))


def _tell(session: Session, *, group_id: int, orders: list[Order], event: str, title: str, body: str,
          leader_body: str, data: dict) -> None:
    for order in orders:
        notify_service.notify(session, user_id=order.buyer_id, event=event, data={**data, "order_id": order.id},
                              title=title, body=body)
    for leader_id in sorted({o.leader_id for o in orders}):
        leader = leader_service.get_leader(session, leader_id)
        notify_service.notify(session, user_id=leader.user_id, event=event, data=data, title=title,
                              body=leader_body)
