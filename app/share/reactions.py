"""The share domain's reactions to orders (wired in app/wiring.py): attributing a new order to
the share that brought its buyer, rewarding the sharer when it is picked up, taking the reward
back when it is refunded."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import String, and_, cast, exists, or_, update
from sqlmodel import Session, select

from app.catalog.models import Sku
from app.config import current_settings
from app.db import utcnow
from app.order.models import Order, OrderItem, OrderSource
from app.points import service as points_service
from app.share.models import Share, ShareOpen
from app.share.service import REWARD, REWARD_REVERSED


def attribute_shares(session: Session, order_ids: list[int]) -> None:
    """Set share_token on new orders, in ONE set-based UPDATE whatever their number: for each
    order, the share its buyer opened most recently within LINLI_SHARE_ATTRIBUTION_DAYS whose
    target the order contains (a SKU of the shared product; the shared flash sale, group or
    bargain record as the order's source), never one the buyer shared. Set-based because a
    flash sale's drain places thousands of orders at once; it reads the catalog's SKUs and the
    orders' items in SQL for that reason."""
    settings, now = current_settings(), utcnow()
    o, item, sku = Order.__table__, OrderItem.__table__, Sku.__table__
    sh, op = Share.__table__, ShareOpen.__table__
    target = cast(sh.c.target_id, String)
    contains = or_(
        and_(sh.c.target_type == "product",
             exists().where(item.c.order_id == o.c.id, sku.c.id == item.c.sku_id, sku.c.product_id == sh.c.target_id)),
        # A flash order's ref is "<sale id>-<reservation n>"; a group's and a bargain's the id itself.
        and_(sh.c.target_type == "flash_sale", o.c.source == OrderSource.flash_sale.value,
             o.c.source_ref.like(target + "-%")),
        and_(sh.c.target_type == "group", o.c.source == OrderSource.group.value, o.c.source_ref == target),
        and_(sh.c.target_type == "bargain_record", o.c.source == OrderSource.bargain.value, o.c.source_ref == target))
    token = (select(sh.c.token).select_from(op.join(sh, sh.c.id == op.c.share_id))
             .where(op.c.visitor_id == o.c.buyer_id, sh.c.sharer_id != o.c.buyer_id,
                    op.c.opened_at >= now - timedelta(days=settings.share_attribution_days), op.c.opened_at <= now,
                    contains)
             .order_by(op.c.opened_at.desc(), op.c.id.desc()).limit(1).scalar_subquery())
    session.execute(update(o).where(o.c.id.in_(order_ids)).values(share_token=token)
                    .execution_options(synchronize_session=False))



# ---- the sharer's reward ------------------------------------------------------------------------

def _sharer_of(session: Session, token: str) -> int | None:
    return session.exec(select(Share.sharer_id).where(Share.token == token)).first()


def reward_sharer(session: Session, order: Order) -> None:
    """LINLI_SHARE_REWARD_RATE of what the buyer paid, floored to the fen, once per order."""
    sharer = _sharer_of(session, order.share_token) if order.share_token else None
    if sharer is None:
        return
    rate = current_settings().share_reward_rate
    points_service.credit(session, user_id=sharer, amount=int(order.total * rate), reason=REWARD,
                          order_id=order.id)


def reverse_reward(session: Session, order: Order) -> None:
    """A refunded order takes its sharer's reward back, as far as the balance holds it: points the
    sharer already spent stay spent (the balance never goes below zero); the entry records what
    was actually taken back."""
    sharer = _sharer_of(session, order.share_token) if order.share_token else None
    if sharer is None:
        return
    earned = points_service.moved(session, user_id=sharer, order_id=order.id, reason_prefix=REWARD)
    points_service.take_back(session, user_id=sharer, amount=earned, reason=REWARD_REVERSED, order_id=order.id)
