"""Chat use cases: open a conversation, post (seq handed out atomically), page history, read,
announce to a point's buyers; and the order domain's state changes told to the buyer."""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, update
from sqlmodel import Session, select

from app.auth import service as auth_service
from app.chat.errors import ConversationNotFound, LeaderHasNoPoint, OrderNotInConversation, OwnConversation
from app.chat.models import Broadcast, Conversation, Message
from app.db import after_commit, dialect_insert, get_or_raise, utcnow
from app.leader.errors import LeaderNotFound
from app.leader.models import Leader
from app.notify import service as notify_service
from app.notify.models import Notification
from app.order import queries as order_queries
from app.order.models import Order
from app.pickup.models import PickupPoint
from app.queue import enqueue, get_redis
from app.workbench import fans as leader_fans

log = logging.getLogger(__name__)

BROADCAST_BATCH = 500


# ---- who is who --------------------------------------------------------------------------

def _side(conv: Conversation, *, user_id: int, leader_id: int | None) -> str:
    """'buyer' or 'leader': which party the caller is. Anyone else is told the conversation does
    not exist (404): its existence would say who talks to whom."""
    if conv.buyer_id == user_id:
        return "buyer"
    if leader_id is not None and conv.leader_id == leader_id:
        return "leader"
    raise ConversationNotFound(f"Conversation {conv.id} does not exist.")


def get_for_party(session: Session, *, conversation_id: int, user_id: int,
                  leader_id: int | None) -> tuple[Conversation, str]:
    conv = get_or_raise(session, Conversation, conversation_id, ConversationNotFound(f"Conversation {conversation_id} does not exist."))
    return conv, _side(conv, user_id=user_id, leader_id=leader_id)


def leader_user_ids(session: Session, leader_ids: list[int]) -> dict[int, int]:
    if not leader_ids:
        return {}
    return dict(session.exec(select(Leader.id, Leader.user_id).where(Leader.id.in_(set(leader_ids)))).all())


def party_user_ids(session: Session, conv: Conversation) -> tuple[int, int]:
    """(buyer's user id, leader's user id)."""
    return conv.buyer_id, leader_user_ids(session, [conv.leader_id])[conv.leader_id]


# ---- conversations -----------------------------------------------------------------------

def open_conversation(session: Session, *, buyer_id: int, leader_id: int) -> tuple[Conversation, bool]:
    """The buyer's conversation with this leader, created if need be: (conversation, created).
    Two buyers' taps racing are settled by the unique key, not by a read first."""
    leader = session.get(Leader, leader_id)
    if leader is None or not leader.active:
        raise LeaderNotFound(f"Leader {leader_id} does not exist.")
    if leader.user_id == buyer_id:
        raise OwnConversation("A leader does not open a conversation with themselves.")
    existing = _find(session, buyer_id, leader_id)
    if existing is not None:
        return existing, False
    created = session.exec(_insert_ignore(session, [{"buyer_id": buyer_id, "leader_id": leader_id,
                                                     "created_at": utcnow()}])).rowcount
    return _find(session, buyer_id, leader_id), bool(created)


def _find(session: Session, buyer_id: int, leader_id: int) -> Conversation | None:
    return session.exec(select(Conversation).where(Conversation.buyer_id == buyer_id,
                                                   Conversation.leader_id == leader_id)).first()


def _insert_ignore(session: Session, rows: list[dict]):
    """INSERT conversations, skipping those that exist (the unique key decides, race-free)."""
    defaults = {"last_seq": 0, "last_message_id": 0, "buyer_unread": 0, "leader_unread": 0, "buyer_read_seq": 0,
                "leader_read_seq": 0, "leader_noticed": False}
    return (dialect_insert(session, Conversation.__table__).values([{**defaults, **r} for r in rows])
            .on_conflict_do_nothing(index_elements=["buyer_id", "leader_id"]))


def inbox(session: Session, *, user_id: int, leader_id: int | None, before_message_id: int | None,
          limit: int) -> list[tuple[Conversation, str]]:
    """Mine as buyer or as leader, newest activity first; a conversation with nothing said yet
    is not listed."""
    mine = Conversation.buyer_id == user_id
    if leader_id is not None:
        mine = or_(mine, Conversation.leader_id == leader_id)
    q = select(Conversation).where(mine, Conversation.last_message_id > 0)
    if before_message_id:
        q = q.where(Conversation.last_message_id < before_message_id)
    rows = session.exec(q.order_by(Conversation.last_message_id.desc()).limit(limit + 1)).all()
    return [(c, "buyer" if c.buyer_id == user_id else "leader") for c in rows]


def parties(session: Session, convs: list[Conversation]) -> dict[str, dict]:
    """Names for a page of conversations, in three queries whatever its length."""
    leaders = {l.id: l for l in session.exec(select(Leader).where(Leader.id.in_({c.leader_id for c in convs})))} \
        if convs else {}
    user_ids = {c.buyer_id for c in convs} | {l.user_id for l in leaders.values()}
    names = auth_service.nicknames(session, user_ids=list(user_ids))
    points = dict(session.exec(select(PickupPoint.leader_id, PickupPoint.name)
                               .where(PickupPoint.leader_id.in_(list(leaders)))).all()) if leaders else {}
    return {"leaders": leaders, "names": names, "points": points}


def last_messages(session: Session, convs: list[Conversation]) -> dict[int, Message]:
    ids = [c.last_message_id for c in convs if c.last_message_id]
    if not ids:
        return {}
    return {m.conversation_id: m for m in session.exec(select(Message).where(Message.id.in_(ids)))}


# ---- messages ----------------------------------------------------------------------------

def post_message(session: Session, *, conversation_id: int, user_id: int, leader_id: int | None, type: str,
                 text: str | None = None, image_url: str | None = None,
                 order_id: int | None = None) -> tuple[Message, Conversation]:
    conv, side = get_for_party(session, conversation_id=conversation_id, user_id=user_id, leader_id=leader_id)
    if type == "order":
        order = session.get(Order, order_id) if order_id else None
        # Only an order of this buyer at this leader's point: a card never shows another's order.
        if order is None or order.buyer_id != conv.buyer_id or order.leader_id != conv.leader_id:
            raise OrderNotInConversation("The order is not one of this buyer's at this leader's point.",
                                         order_id=order_id)
    other_unread = "leader_unread" if side == "buyer" else "buyer_unread"
    # The seq, the recipient's unread count and the activity in one conditional counter UPDATE:
    # concurrent posters queue on the row and each gets the next number, no gaps, no repeats.
    seq = session.execute(
        update(Conversation).where(Conversation.id == conv.id)
        .values(last_seq=Conversation.last_seq + 1,
                **{other_unread: getattr(Conversation, other_unread) + 1})
        .returning(Conversation.last_seq)
        .execution_options(synchronize_session=False)).scalar_one()
    msg = Message(conversation_id=conv.id, seq=seq, sender_id=user_id, type=type,
                  text=text if type == "text" else None, image_url=image_url if type == "image" else None,
                  order_id=order_id if type == "order" else None)
    session.add(msg)
    session.flush()
    session.execute(update(Conversation).where(Conversation.id == conv.id, Conversation.last_message_id < msg.id)
                    .values(last_message_id=msg.id).execution_options(synchronize_session=False))
    return msg, conv


def tell_offline_leader(session: Session, *, conversation_id: int) -> None:
    """A leader with no open socket learns of new messages from a notification, once per
    conversation until they read it (the flag flips atomically, so two messages give one).
    The caller checks presence (Redis) before this transaction: no network wait inside it."""
    conv = session.get(Conversation, conversation_id)
    leader_user = leader_user_ids(session, [conv.leader_id])[conv.leader_id]
    flipped = session.execute(update(Conversation).where(Conversation.id == conv.id,
                                                         Conversation.leader_noticed.is_(False))
                              .values(leader_noticed=True).execution_options(synchronize_session=False)).rowcount
    if flipped:
        name = auth_service.nicknames(session, user_ids=[conv.buyer_id]).get(conv.buyer_id) or "买家"
        notify_service.notify(session, user_id=leader_user, event="chat.unread",
                              data={"conversation_id": conv.id, "buyer_id": conv.buyer_id},
                              title="新消息", body=f"{name} 给你发了消息")


def history(session: Session, *, conversation_id: int, user_id: int, leader_id: int | None,
            after_seq: int | None, before_seq: int | None, limit: int) -> tuple[list[Message], bool]:
    """Messages in seq order: after `after_seq` (catch-up, oldest first), before `before_seq`
    (scrolling back), or the newest page. Answers (messages, whether more lie that way)."""
    get_for_party(session, conversation_id=conversation_id, user_id=user_id, leader_id=leader_id)
    q = select(Message).where(Message.conversation_id == conversation_id)
    if after_seq is not None:
        q = q.where(Message.seq > after_seq)
    if before_seq is not None:
        q = q.where(Message.seq < before_seq)
    if after_seq is not None:
        rows = list(session.exec(q.order_by(Message.seq).limit(limit + 1)))
        return rows[:limit], len(rows) > limit
    rows = list(session.exec(q.order_by(Message.seq.desc()).limit(limit + 1)))
    return list(reversed(rows[:limit])), len(rows) > limit


def mark_read(session: Session, *, conversation_id: int, user_id: int, leader_id: int | None,
              up_to_seq: int) -> Conversation:
    """Read receipts only move forward; the unread count becomes what the other side said after
    `up_to_seq`, counted in the same UPDATE."""
    conv, side = get_for_party(session, conversation_id=conversation_id, user_id=user_id, leader_id=leader_id)
    read_col = getattr(Conversation, f"{side}_read_seq")
    up_to = min(up_to_seq, conv.last_seq)
    unread_after = (select(func.count(Message.id)).where(Message.conversation_id == conv.id, Message.seq > up_to,
                                                          Message.sender_id != user_id).scalar_subquery())
    values: dict[str, Any] = {f"{side}_read_seq": up_to, f"{side}_unread": unread_after}
    if side == "leader":
        values["leader_noticed"] = False
    session.execute(update(Conversation).where(Conversation.id == conv.id, read_col < up_to).values(**values)
                    .execution_options(synchronize_session=False))
    session.refresh(conv)
    return conv


# ---- order cards -------------------------------------------------------------------------

def order_cards(session: Session, order_ids: list[int]) -> dict[int, dict]:
    """Order cards rendered as they are now (status moves on after the message was sent). The
    pickup code is left out: the leader checks it at handover and must not read it here."""
    ids = sorted({i for i in order_ids if i})
    if not ids:
        return {}
    orders = session.exec(select(Order).where(Order.id.in_(ids))).all()
    items = order_queries.items_of(session, ids)
    return {o.id: {"id": o.id, "status": o.status, "total": o.total, "delivery_date": o.delivery_date,
                   "items": [{"product_name": i.product_name, "sku_name": i.sku_name, "qty": i.qty,
                              "amount": i.amount} for i in items.get(o.id, [])]}
            for o in orders}


# ---- announcements -----------------------------------------------------------------------

def broadcast(session: Session, *, leader_id: int, leader_user_id: int, pickup_point_id: int | None, text: str,
              segment: str = "all", now: datetime | None = None) -> tuple[Broadcast, list[tuple[int, Message]]]:
    """One message from the leader into the conversation with every buyer bound to their point, or
    only those of a segment (chosen by the fans list's own SQL clause, so the two never disagree).
    Set-based in batches: the recipients' ids by keyset, conversations created with one INSERT,
    seqs taken with one UPDATE ... RETURNING, messages written with one bulk INSERT per batch.
    Answers the broadcast (recipients: the buyers actually messaged) and (buyer id, message) pairs
    to push."""
    if pickup_point_id is None:
        raise LeaderHasNoPoint("You have no pickup point, so no bound buyers.")
    b = Broadcast(leader_id=leader_id, text=text, segment=segment, recipients=0)
    session.add(b)
    session.flush()
    now = now or utcnow()
    sent: list[tuple[int, Message]] = []
    for batch in leader_fans.fan_ids_in_batches(session, pickup_point_id=pickup_point_id,
                                                leader_user_id=leader_user_id, segment=segment,
                                                batch=BROADCAST_BATCH, now=now):
        session.execute(_insert_ignore(session, [{"buyer_id": u, "leader_id": leader_id, "created_at": now}
                                                 for u in batch]))
        taken = session.execute(
            update(Conversation).where(Conversation.leader_id == leader_id, Conversation.buyer_id.in_(batch))
            .values(last_seq=Conversation.last_seq + 1, buyer_unread=Conversation.buyer_unread + 1)
            .returning(Conversation.id, Conversation.buyer_id, Conversation.last_seq)
            .execution_options(synchronize_session=False)).all()
        rows = [{"conversation_id": cid, "seq": seq, "sender_id": leader_user_id, "type": "text", "text": text,
                 "broadcast_id": b.id, "created_at": now} for cid, _, seq in taken]
        if not rows:
            continue
        ids = session.execute(insert(Message).returning(Message.id, Message.conversation_id,
                                                        sort_by_parameter_order=True), rows).all()
        table = Conversation.__table__
        session.connection().execute(
            table.update().where(table.c.id == bindparam("cid"), table.c.last_message_id < bindparam("mid"))
            .values(last_message_id=bindparam("mid")), [{"cid": cid, "mid": mid} for mid, cid in ids])
        buyer_of = {cid: buyer for cid, buyer, _ in taken}
        for (mid, cid), row in zip(ids, rows):
            sent.append((buyer_of[cid], Message(id=mid, **row)))
    b.recipients = len(sent)
    session.add(b)
    session.flush()
    return b, sent


# ---- live push ---------------------------------------------------------------------------

def publish_after_commit(events: list[tuple[int, dict]]) -> None:
    """Push (user id, event) pairs to the users' sockets on every `serve` process once the
    transaction commits, in one pipeline. A lost push loses nothing: clients catch up with
    `after_seq`."""
    if not events:
        return

    def _publish():

        try:
            pipe = get_redis().pipeline(transaction=False)
            for user_id, event in events:
                pipe.publish(notify_service.user_channel(user_id), json.dumps(event, ensure_ascii=False,
                                                                              default=str))
            pipe.execute()
        except Exception:  # noqa: BLE001 - the rows are the record
            log.warning("could not push %d chat events", len(events), exc_info=True)

    after_commit(_publish)


# ---- the order domain's state changes, told to the buyer -----------------------------------

_ORDER_TITLES = {"paid": "订单已支付", "cancelled": "订单已取消", "refunded": "订单已退款", "shipped": "订单已发货",
                 "arrived": "商品已到自提点", "picked_up": "订单已取货"}


def _order_data(order_id: int, status: str, pickup_point_id: int, delivery_date) -> dict:
    return {"id": order_id, "status": status, "pickup_point_id": pickup_point_id,
            "delivery_date": delivery_date.isoformat() if delivery_date else None}


def order_updated(session: Session, order: Order) -> None:
    notify_service.notify(session, user_id=order.buyer_id, event="order.updated",
                          data=_order_data(order.id, order.status, order.pickup_point_id, order.delivery_date),
                          title=_ORDER_TITLES.get(order.status, "订单有更新"), body=f"订单 #{order.id}")


SHIPPED_BATCH = 5000


def orders_shipped(session: Session, order_ids: list[int]) -> None:
    """Shipping is set-based (a whole night's orders in one UPDATE): the buyers are told by jobs
    of their own after the build commits, a batch of orders each, so telling 300,000 buyers never
    holds the build's transaction (nor fails it: the orders are shipped whatever happens here)."""
    for start in range(0, len(order_ids), SHIPPED_BATCH):
        enqueue("app.chat.jobs.tell_buyers_shipped_job", order_ids[start:start + SHIPPED_BATCH])


def tell_buyers_shipped(session: Session, *, order_ids: list[int]) -> int:
    """One bulk INSERT of order.updated notifications for shipped orders and one pipeline of
    pushes after commit. Only orders still shipped are told: a job that runs late, after the goods
    arrived, leaves it to the arrival's own notice."""
    now = utcnow()
    notes: list[dict] = []
    for start in range(0, len(order_ids), 1000):
        chunk = order_ids[start:start + 1000]
        for oid, buyer, point, day, status in session.execute(
                select(Order.id, Order.buyer_id, Order.pickup_point_id, Order.delivery_date, Order.status)
                .where(Order.id.in_(chunk), Order.status == "shipped")).all():
            notes.append({"user_id": buyer, "event": "order.updated", "title": _ORDER_TITLES["shipped"],
                          "body": f"订单 #{oid}", "data": _order_data(oid, status, point, day), "created_at": now})
    if notes:
        session.execute(insert(Notification), notes)
    publish_after_commit([(n["user_id"], {"event": "order.updated", "data": n["data"]}) for n in notes])
    return len(notes)
