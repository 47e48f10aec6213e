from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated, current
from app.db import reading, transaction
from app.http import respond
from app.notify import service
from app.notify.schemas import (NotificationList, NotificationPublic, NotificationQuery, ReadNotifications,
                                ReadNotificationsResult)
from app.pagination import decode_cursor, page_of

bp = APIBlueprint("notifications", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="notifications", description="What happened to my orders, groups, chats")])


@bp.get("/me/notifications", operation_id="list_notifications", responses={200: NotificationList},
        security=BEARER, summary="My notifications, newest first, with the unread count")
@authenticated()
def list_notifications(query: NotificationQuery):
    with reading() as s:
        rows, unread = service.list_for(s, user_id=current().user_id, unread_only=query.unread,
                                        before_id=decode_cursor(query.cursor), limit=query.limit)
        rows, cursor = page_of(rows, query.limit)
        items = [NotificationPublic(id=n.id, kind=n.event, title=n.title, body=n.body, data=n.data,
                                    created_at=n.created_at, read_at=n.read_at) for n in rows]
        return respond(NotificationList(items=items, next_cursor=cursor, unread_count=unread))


@bp.post("/me/notifications/read", operation_id="read_notifications", responses={200: ReadNotificationsResult},
         security=BEARER, summary="Mark my notifications read, up to and including this id")
@authenticated()
def read_notifications(body: ReadNotifications):
    user_id = current().user_id
    with transaction() as s:
        marked = service.mark_read(s, user_id=user_id, up_to_id=body.up_to_id)
        return respond(ReadNotificationsResult(marked=marked, unread_count=service.unread_count(s, user_id=user_id)))
