"""Subscribe messages: grants recorded per kind, sends written to an outbox in the event's own
transaction, and delivered by a worker that uses each grant once and calls WeChat outside any
transaction."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from rq import Retry
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from app.auth.models import User
from app.config import current_settings
from app.db import after_commit, transaction, utcnow
from app.queue import enqueue
from app.subscribe.models import Kind, SendStatus, SubscribeGrant, SubscribeSend
from app.wechat import WechatApiError, WechatTransient, WechatUserRefused, wechat_client

log = logging.getLogger(__name__)

G = SubscribeGrant.__table__
S = SubscribeSend.__table__
ST = SendStatus
BATCH = 200  # sends per job: an arrival at a big point tells hundreds of buyers
SWEEP_AFTER = timedelta(minutes=1)
STUCK_AFTER = timedelta(minutes=10)


# ---- grants -----------------------------------------------------------------------------------

def grant(session: Session, *, user_id: int, kinds: list[Kind]) -> dict[str, int]:
    """Each accepted kind gives one more one-time send (one upsert each, atomic on both
    databases); answers the user's grants for every kind."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    for kind in sorted({Kind(k).value for k in kinds}):
        stmt = insert(G).values(user_id=user_id, kind=kind, remaining=1, updated_at=now)
        session.execute(stmt.on_conflict_do_update(index_elements=[G.c.user_id, G.c.kind],
                                                   set_={"remaining": G.c.remaining + 1, "updated_at": now}))
    return grants_of(session, user_id=user_id)


def grants_of(session: Session, *, user_id: int) -> dict[str, int]:
    have = dict(session.execute(select(G.c.kind, G.c.remaining).where(G.c.user_id == user_id)).all())
    return {k.value: have.get(k.value, 0) for k in Kind}


def _use_grant(session: Session, *, user_id: int, kind: str) -> bool:
    # One conditional UPDATE: two workers can never both take the last grant.
    return session.execute(update(G).where(G.c.user_id == user_id, G.c.kind == kind, G.c.remaining > 0)
                           .values(remaining=G.c.remaining - 1, updated_at=utcnow())).rowcount == 1


def _give_back(session: Session, *, user_id: int, kind: str) -> None:
    session.execute(update(G).where(G.c.user_id == user_id, G.c.kind == kind)
                    .values(remaining=G.c.remaining + 1, updated_at=utcnow()))


# ---- events → sends ---------------------------------------------------------------------------

def kind_for(event: str, data: dict) -> Kind | None:
    """Which subscribe message a user-facing event is, if any."""
    if event == "order.updated":
        return Kind.order_ready if data.get("status") == "arrived" else None
    return {"group.succeeded": Kind.group_result, "group.failed": Kind.group_result,
            "bargain.completed": Kind.bargain_completed, "manifest_ready": Kind.manifest_ready,
            "chat.unread": Kind.chat_unread, "coupon.granted": Kind.coupon_granted}.get(event)


# The longest value WeChat takes per data keyword kind (characters); longer ones fail with 47003.
LIMITS = {"thing": 20, "character_string": 32, "number": 32, "amount": 32, "date": 32, "phrase": 5}


def fit(key: str, value: Any) -> dict[str, str]:
    """{"value": ...} within the limit of the keyword's kind (thing1 → 20 characters)."""
    text = " ".join(str(value).split()) or "-"
    limit = LIMITS.get(key.rstrip("0123456789"), 20)
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    return {"value": text}


def message_for(kind: Kind, data: dict, title: str, body: str) -> tuple[str, dict]:
    """The page the message opens and its data. Every template has thing1 (what happened) and
    thing2 (a line of detail); some add the object's number or date (README: templates)."""
    fields: dict[str, Any] = {"thing1": title or "邻里通知", "thing2": body or title or "-"}
    if kind is Kind.order_ready:
        page = f"pages/order/detail?id={data.get('id')}"
        fields["character_string3"] = data.get("id")
    elif kind is Kind.group_result:
        page = f"pages/group/detail?id={data.get('group_id')}"
        fields["character_string3"] = data.get("group_id")
    elif kind is Kind.bargain_completed:
        page = f"pages/bargain/detail?id={data.get('record_id')}"
        fields["amount3"] = f"{int(data.get('price') or 0) / 100:.2f}元"
    elif kind is Kind.manifest_ready:
        page = f"pages/leader/manifest?date={data.get('delivery_date')}"
        fields["date3"] = data.get("delivery_date")
    elif kind is Kind.coupon_granted:
        page = "pages/coupon/list"
        fields["date3"] = str(data.get("expires_at") or "")[:10]  # valid until
    else:
        page = f"pages/chat/conversation?id={data.get('conversation_id')}"
    return page, {key: fit(key, value) for key, value in fields.items()}


def queue_send(session: Session, *, user_id: int, event: str, data: dict, title: str, body: str) -> None:
    """Called by notify(): if the event is a subscribe kind with a template configured, write a
    pending send in this transaction; the worker gets it (in batches) after commit."""
    kind = kind_for(event, data)
    if kind is None:
        return
    template_id = current_settings().wechat_templates.get(kind.value)
    if not template_id:
        return
    page, fields = message_for(kind, data, title, body)
    row = SubscribeSend(user_id=user_id, kind=kind.value, template_id=template_id, page=page, data=fields)
    session.add(row)
    session.flush()
    pending = session.info.get("linli.subscribe_sends")
    if pending is None:
        pending = session.info["linli.subscribe_sends"] = []
        after_commit(lambda: enqueue_sends(pending))
    pending.append(row.id)


def enqueue_sends(send_ids: list[int]) -> None:
    intervals = current_settings().subscribe_retry_s
    for start in range(0, len(send_ids), BATCH):
        enqueue("app.subscribe.jobs.send_subscribe_messages_job", send_ids[start:start + BATCH],
                retry=Retry(max=len(intervals), interval=intervals) if intervals else None)


# ---- the worker's side ------------------------------------------------------------------------

def deliver(*, send_id: int) -> str | None:
    """Take one pending send, use a grant, ask WeChat (outside any transaction), record the answer.
    Answers the status it ended in, "retry" if a transient error leaves it pending, or None if
    it was not pending (another worker took it, or it is done): safe to run twice."""
    now = utcnow()
    with transaction() as s:
        taken = s.execute(update(S).where(S.c.id == send_id, S.c.status == ST.pending.value)
                          .values(status=ST.sending.value, attempts=S.c.attempts + 1, due_at=now)).rowcount
        if not taken:
            return None
        send = s.execute(select(S).where(S.c.id == send_id)).one()
        openid = s.execute(select(User.openid).where(User.id == send.user_id)).scalar_one_or_none()
        if not openid or not _use_grant(s, user_id=send.user_id, kind=send.kind):
            _finish(s, send_id, ST.skipped, reason="no_openid" if not openid else "no_grant")
            return ST.skipped.value
    try:
        wechat_client().send_subscribe_message(touser_openid=openid, template_id=send.template_id,
                                               page=send.page, data=send.data)
    except WechatTransient as e:
        return _after_transient(send, e)
    except WechatApiError as e:
        with transaction() as s:
            # 43101: WeChat used the user's grant up (or there was none): ours stays used. Any
            # other refusal (bad openid, data, page, template) never reached the user's grant.
            if _finish(s, send_id, ST.refused, errcode=e.errcode, reason=e.code) \
                    and not isinstance(e, WechatUserRefused):
                _give_back(s, user_id=send.user_id, kind=send.kind)
        log.warning("subscribe send %s refused by WeChat (%s)", send_id, e.errcode)
        return ST.refused.value
    with transaction() as s:
        _finish(s, send_id, ST.sent)
    return ST.sent.value


def _after_transient(send, e: WechatTransient) -> str:
    intervals = current_settings().subscribe_retry_s
    with transaction() as s:
        if e.maybe_delivered:
            # No answer after the request went out: WeChat may have sent it and used the grant.
            # Never risk sending twice: failed, grant kept used.
            _finish(s, send.id, ST.failed, errcode=e.errcode, reason="no_answer")
            return ST.failed.value
        if send.attempts > len(intervals):
            if _finish(s, send.id, ST.failed, errcode=e.errcode, reason=e.code):
                _give_back(s, user_id=send.user_id, kind=send.kind)
            return ST.failed.value
        wait = timedelta(seconds=intervals[send.attempts - 1])
        back = s.execute(update(S).where(S.c.id == send.id, S.c.status == ST.sending.value)
                         .values(status=ST.pending.value, errcode=e.errcode, reason=e.code,
                                 due_at=utcnow() + wait)).rowcount
        if back:
            _give_back(s, user_id=send.user_id, kind=send.kind)
    return "retry"


def _finish(s: Session, send_id: int, status: SendStatus, *, errcode: int | None = None,
            reason: str | None = None) -> bool:
    # Conditional: only the worker that took the send (status sending) records its outcome.
    return s.execute(update(S).where(S.c.id == send_id, S.c.status == ST.sending.value)
                     .values(status=status.value, errcode=errcode, reason=reason, done_at=utcnow())).rowcount == 1


def sweep(session: Session, *, limit: int = 5000) -> list[int]:
    """Pending sends a minute past due (their after-commit enqueue or retry was lost), to enqueue
    again; sends stuck in `sending` (their worker died while asking WeChat) become failed, since
    WeChat may have sent them."""
    now = utcnow()
    session.execute(update(S).where(S.c.status == ST.sending.value, S.c.due_at < now - STUCK_AFTER)
                    .values(status=ST.failed.value, reason="interrupted", done_at=now))
    return list(session.execute(select(S.c.id).where(S.c.status == ST.pending.value, S.c.due_at < now - SWEEP_AFTER)
                                .order_by(S.c.due_at).limit(limit)).scalars())
