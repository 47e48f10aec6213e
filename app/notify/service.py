"""Tell a user something: a stored notification, and a push to their open sockets (any process)
over Redis pub/sub once the transaction commits."""
from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, func, select

from app.db import after_commit, utcnow
from app.notify.models import Notification
from app.pagination import keyset
from app.queue import get_redis
from app.subscribe.service import queue_send

log = logging.getLogger(__name__)


def user_channel(user_id: int) -> str:
    return f"linli:user:{user_id}"


def notify(session: Session, *, user_id: int, event: str, data: dict[str, Any], title: str = "",
           body: str = "") -> Notification:
    """Store a notification (kind `event`, a title and body a person reads, `data` for the client)
    and push it to the user's open sockets once the transaction commits."""
    data = json.loads(json.dumps(data, ensure_ascii=False, default=str))  # dates etc. as JSON strings
    note = Notification(user_id=user_id, event=event, data=data, title=title[:100], body=body[:500])
    session.add(note)
    session.flush()
    # The same event as a WeChat subscribe message, if it is one of its kinds (an outbox row in
    # this transaction; a worker sends it).

    queue_send(session, user_id=user_id, event=event, data=data, title=title, body=body)
    message = json.dumps({"event": event, "data": data}, ensure_ascii=False)

    def _publish():

        try:
            get_redis().publish(user_channel(user_id), message)
        except Exception:  # the stored row is the record; a lost push is not an error
            log.warning("could not publish %s to user %s", event, user_id, exc_info=True)

    after_commit(_publish)
    return note


def notify_many(session: Session, *, items: list[tuple[int, dict[str, Any]]], event: str, title: str = "",
                body: str = "") -> None:
    """The same notification (kind, title, body) to many users, each with its own data: one
    multi-row INSERT, the subscribe sends as notify() writes them, and the pushes in one Redis
    pipeline once the transaction commits (a leader's grant to thousands of fans)."""
    if not items:
        return
    now = utcnow()
    rows = [{"user_id": uid, "event": event, "data": json.loads(json.dumps(d, ensure_ascii=False, default=str)),
             "title": title[:100], "body": body[:500], "created_at": now} for uid, d in items]
    session.execute(insert(Notification), rows)
    for row in rows:
        queue_send(session, user_id=row["user_id"], event=event, data=row["data"], title=title, body=body)
    messages = [(user_channel(r["user_id"]), json.dumps({"event": event, "data": r["data"]}, ensure_ascii=False))
                for r in rows]

    def _publish():
        try:
            pipe = get_redis().pipeline(transaction=False)
            for channel, message in messages:
                pipe.publish(channel, message)
            pipe.execute()
        except Exception:  # the stored rows are the record; a lost push is not an error
            log.warning("could not publish %d %s events", len(messages), event, exc_info=True)

    after_commit(_publish)


def list_for(session: Session, *, user_id: int, unread_only: bool, before_id: int | None,
             limit: int) -> tuple[list[Notification], int]:
    """A page of my notifications, newest first, and how many are unread in all."""


    q = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        q = q.where(Notification.read_at.is_(None))
    rows = list(session.exec(keyset(q, Notification.id, before_id, limit)))
    return rows, unread_count(session, user_id=user_id)


def unread_count(session: Session, *, user_id: int) -> int:

    return session.exec(select(func.count(Notification.id)).where(Notification.user_id == user_id,
                                                                 Notification.read_at.is_(None))).one()


def mark_read(session: Session, *, user_id: int, up_to_id: int) -> int:
    """Everything of mine up to this id is read (one UPDATE; already read rows keep their time)."""


    return session.exec(update(Notification).where(Notification.user_id == user_id, Notification.id <= up_to_id,
                                                   Notification.read_at.is_(None))
                        .values(read_at=utcnow()).execution_options(synchronize_session=False)).rowcount
