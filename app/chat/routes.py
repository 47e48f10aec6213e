from __future__ import annotations

import json
import logging
import queue
import time

from flask import Blueprint, current_app, g
from flask_openapi3 import APIBlueprint, Tag
from flask_sock import Sock
from simple_websocket import ConnectionClosed
from werkzeug.exceptions import ServiceUnavailable, TooManyRequests

from app.auth.security import BEARER, authenticated, current, websocket_principal
from app.chat import live, service
from app.chat.schemas import (BroadcastCreate, BroadcastCreated, ConversationCreate, ConversationCreated,
                              ConversationList, ConversationListItem, ConversationPath, InboxQuery, MessageCreate,
                              MessageList, MessagePublic, MessagesQuery, Party, ReadBody, ReadResult, message_public)
from app.db import reading, transaction
from app.extensions import limiter
from app.http import problem_response, respond, settings
from app.metrics import WEBSOCKETS_OPEN
from app.pagination import decode_cursor, encode_cursor

log = logging.getLogger(__name__)

bp = APIBlueprint("chat", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="chat", description="Buyer–leader chat (联系团长) and announcements")])

_NOT_YOURS = problem_response("conversation_not_found: no such conversation, or you are not one of its two parties")


def _me():
    p = current()
    return {"user_id": p.user_id, "leader_id": p.leader_id}


def _party(session, conv, side: str, names: dict | None = None) -> Party:
    if side == "buyer":
        nick = (names or service.parties(session, [conv])["names"]).get(conv.buyer_id, "")
        return Party(user_id=conv.buyer_id, nickname=nick)
    info = service.parties(session, [conv])
    leader = info["leaders"][conv.leader_id]
    return Party(user_id=leader.user_id, nickname=info["names"].get(leader.user_id, ""), leader_id=leader.id,
                 pickup_point_name=info["points"].get(leader.id))


@bp.post("/conversations", operation_id="open_conversation", security=BEARER,
         responses={200: ConversationCreated, 201: ConversationCreated,
                    404: problem_response("leader_not_found"),
                    409: problem_response("own_conversation: a leader cannot talk to themselves")},
         summary="Open my conversation with a leader (201 created, 200 when it exists)")
@authenticated()
def open_conversation(body: ConversationCreate):
    with transaction() as s:
        conv, created = service.open_conversation(s, buyer_id=current().user_id, leader_id=body.leader_id)
        out = ConversationCreated(id=conv.id, buyer=_party(s, conv, "buyer"), leader=_party(s, conv, "leader"))
    return respond(out, 201 if created else 200)


@bp.get("/conversations", operation_id="list_conversations", responses={200: ConversationList}, security=BEARER,
        summary="My inbox, as buyer and as leader, newest message first")
@authenticated()
def list_conversations(query: InboxQuery):
    me = _me()
    with reading() as s:
        rows = service.inbox(s, user_id=me["user_id"], leader_id=me["leader_id"],
                             before_message_id=decode_cursor(query.cursor), limit=query.limit)
        cursor = None
        if len(rows) > query.limit:
            rows = rows[:query.limit]
            cursor = encode_cursor(rows[-1][0].last_message_id)
        convs = [c for c, _ in rows]
        info = service.parties(s, convs)
        lasts = service.last_messages(s, convs)
        cards = service.order_cards(s, [m.order_id for m in lasts.values() if m.order_id])
        items = []
        for c, side in rows:
            if side == "buyer":
                leader = info["leaders"][c.leader_id]
                other = Party(user_id=leader.user_id, nickname=info["names"].get(leader.user_id, ""),
                              leader_id=leader.id, pickup_point_name=info["points"].get(leader.id))
            else:
                other = Party(user_id=c.buyer_id, nickname=info["names"].get(c.buyer_id, ""))
            last = lasts.get(c.id)
            items.append(ConversationListItem(
                id=c.id, role=side, other_party=other,
                last_message=message_public(last, cards.get(last.order_id)) if last else None,
                unread_count=c.buyer_unread if side == "buyer" else c.leader_unread))
    return respond(ConversationList(items=items, next_cursor=cursor))


@bp.get("/conversations/<int:conversation_id>/messages", operation_id="list_messages",
        responses={200: MessageList, 404: _NOT_YOURS}, security=BEARER,
        summary="A conversation's messages in seq order (after_seq to catch up, before_seq to scroll back)")
@authenticated()
def list_messages(path: ConversationPath, query: MessagesQuery):
    with reading() as s:
        rows, more = service.history(s, conversation_id=path.conversation_id, **_me(), after_seq=query.after_seq,
                                     before_seq=query.before_seq, limit=query.limit)
        cards = service.order_cards(s, [m.order_id for m in rows if m.order_id])
        return respond(MessageList(items=[message_public(m, cards.get(m.order_id)) for m in rows], has_more=more))


def _message_rate() -> str:
    return settings().chat_message_rate


@bp.post("/conversations/<int:conversation_id>/messages", operation_id="post_message",
         responses={201: MessagePublic, 404: _NOT_YOURS,
                    422: problem_response("validation_error, or order_not_in_conversation")},
         security=BEARER, summary="Send a text, an https image or an order card")
@authenticated()
@limiter.limit(_message_rate)
def post_message(path: ConversationPath, body: MessageCreate):
    redis = current_app.extensions["linli.redis"]
    with transaction() as s:
        msg, conv = service.post_message(
            s, conversation_id=path.conversation_id, **_me(), type=body.type, text=body.text,
            image_url=body.image_url, order_id=body.order_id)
        card = service.order_cards(s, [msg.order_id]).get(msg.order_id) if msg.order_id else None
        out = message_public(msg, card)
        buyer_user, leader_user = service.party_user_ids(s, conv)
        event = {"event": "message.created", "data": out.model_dump(mode="json")}
        # The recipient's sockets and the sender's other sockets (the sender's own tab dedupes by seq).
        service.publish_after_commit([(buyer_user, event), (leader_user, event)])
    # Outside the transaction: a Redis wait must never hold the database's write lock.
    if out.sender_id == buyer_user and not live.is_online(redis, leader_user):
        try:
            with transaction() as s:
                service.tell_offline_leader(s, conversation_id=out.conversation_id)
        except Exception:  # noqa: BLE001 - the message is sent; a missed nudge is not an error
            log.warning("could not notify leader of conversation %s", out.conversation_id, exc_info=True)
    return respond(out, 201)


@bp.post("/conversations/<int:conversation_id>/read", operation_id="read_conversation",
         responses={200: ReadResult, 404: _NOT_YOURS}, security=BEARER,
         summary="Read receipt: I have read up to this seq")
@authenticated()
def read_conversation(path: ConversationPath, body: ReadBody):
    me = _me()
    with transaction() as s:
        conv = service.mark_read(s, conversation_id=path.conversation_id, **me, up_to_seq=body.up_to_seq)
        side = "buyer" if conv.buyer_id == me["user_id"] else "leader"
        out = ReadResult(conversation_id=conv.id, read_seq=getattr(conv, f"{side}_read_seq"),
                         unread_count=getattr(conv, f"{side}_unread"))
        buyer_user, leader_user = service.party_user_ids(s, conv)
        other = leader_user if side == "buyer" else buyer_user
        receipt = {"event": "conversation.read", "data": {"conversation_id": conv.id, "reader_id": me["user_id"],
                                                           "read_seq": out.read_seq}}
        service.publish_after_commit([(other, receipt), (me["user_id"], receipt)])
    return respond(out)


@bp.post("/leader/broadcasts", operation_id="create_broadcast", security=BEARER,
         responses={201: BroadcastCreated, 409: problem_response("leader_has_no_point")},
         summary="Announce to every buyer bound to my pickup point, or to one segment of them (one message each)")
@authenticated("leader")
def create_broadcast(body: BroadcastCreate):
    p = current()
    with transaction() as s:
        b, sent = service.broadcast(s, leader_id=p.leader_id, leader_user_id=p.user_id,
                                    pickup_point_id=p.leader_point_id, text=body.text, segment=body.segment)
        events = []
        for buyer_id, msg in sent:
            event = {"event": "message.created", "data": message_public(msg).model_dump(mode="json")}
            events += [(buyer_id, event), (p.user_id, event)]
        service.publish_after_commit(events)
        out = BroadcastCreated(id=b.id, recipients=b.recipients)
    return respond(out, 201)


# ---- the WebSocket (outside the OpenAPI document: it is not a JSON operation) -------------------

ws_bp = Blueprint("chat_ws", __name__)
sock = Sock()


# Set by `linli serve` on the JSON pool (gthread): at most this many sockets per process, half its
# threads, so that sockets never take the threads JSON requests need. None: no such cap.
JSON_POOL_SOCKETS = "linli.json_pool_sockets"


def _slots() -> live.SocketSlots:
    ext = current_app.extensions
    if "linli.ws_slots" not in ext:
        ext["linli.ws_slots"] = live.SocketSlots(settings().ws_max_per_user, ext.get(JSON_POOL_SOCKETS))
    return ext["linli.ws_slots"]


@ws_bp.before_request
def _ws_auth():
    # Before the handshake, so that a bad token is a plain 401 problem+json, not an opened socket;
    # so is a socket over the limits (429 for this user's, 503 for the JSON pool's).
    principal = websocket_principal()
    refused = _slots().take(principal.user_id)
    if refused == "user":
        raise TooManyRequests(f"At most {settings().ws_max_per_user} open sockets per user; close one first.",
                              retry_after=settings().ws_heartbeat_s)
    if refused == "pool":
        raise ServiceUnavailable("This server keeps its threads for JSON requests; sockets belong on the socket "
                                 "pool (`linli serve --ws`).", retry_after=5)
    g.ws_slot_user = principal.user_id


@ws_bp.teardown_request
def _ws_slot_back(_exc):
    user_id = g.pop("ws_slot_user", None)
    if user_id is not None:
        _slots().give_back(user_id)


@sock.route("/api/v1/ws", bp=ws_bp)
def websocket(ws):
    # The 101 is written by now: an error leaving this function would become Flask's 500,
    # written by gunicorn onto the upgraded socket, whose peer reads "HTTP/1.1 500" as a frame
    # ("H" = 0x48 has RSV1 set: "reserved bits must be 0"), while gunicorn goes on parsing the
    # peer's frames as the next request. Whatever fails closes the socket instead (1011); the
    # client reconnects and catches up with after_seq.
    WEBSOCKETS_OPEN.inc()
    try:
        _serve_socket(ws)
    except ConnectionClosed:
        pass
    except Exception:  # noqa: BLE001 - logged; the peer gets a close frame, not a broken stream
        log.exception("socket of user %s failed", getattr(g.get("principal"), "user_id", None))
        try:
            ws.close(reason=1011, message="internal error")
        except Exception:  # noqa: BLE001 - already closed
            pass
    finally:
        WEBSOCKETS_OPEN.dec()


def _serve_socket(ws) -> None:
    ws.sock = live.WholeFrames(ws.sock)
    principal = websocket_principal()
    cfg = settings()
    presence = live.presence_redis(cfg.redis_url)
    hub = live.hub_for(cfg.redis_url)
    client = live.Client(principal.user_id)
    try:
        if not hub.add(client):
            ws.close(reason=1011, message="subscription unavailable")
            return
        live.mark_online(presence, principal.user_id, cfg.ws_presence_ttl_s)
        ws.send(json.dumps({"event": "ready", "data": {"user_id": principal.user_id}}))
        beat = time.monotonic()
        while ws.connected and not client.closed:
            try:
                # Short waits, so that a socket the peer closed is let go within seconds.
                raw = client.queue.get(timeout=min(5, cfg.ws_heartbeat_s))
            except queue.Empty:
                raw = ""
            if raw is None:
                break
            if raw:
                ws.send(raw)
            if time.monotonic() - beat >= cfg.ws_heartbeat_s:
                # Heartbeat: the protocol ping (SOCK_SERVER_OPTIONS ping_interval) closes dead
                # peers; this keeps the user "online" for offline-leader notifications.
                beat = time.monotonic()
                live.mark_online(presence, principal.user_id, cfg.ws_presence_ttl_s)
    finally:
        hub.remove(client)
        if principal.user_id not in hub.clients:
            try:
                presence.delete(f"{live.PRESENCE_PREFIX}{principal.user_id}")
            except Exception:  # noqa: BLE001
                pass
