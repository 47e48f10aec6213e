"""Share links: create (a random token, the page to share), open (a visit recorded once per
visitor, a newcomer bound to the sharer's leader's point), the sharer's list with its figures
computed in SQL, and the sharer's reward when an attributed order is picked up (reversed on
refund): those reactions to orders live in share/reactions.py."""
from __future__ import annotations

import hashlib
import logging
import secrets
import string
import time
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from app.auth import service as auth_service
from app.bargain import service as bargain_service
from app.catalog import service as catalog_service
from app.catalog.models import Product, Sku
from app.db import reading, transaction, utcnow
from app.errors import DomainError, NotFound
from app.flashsale import service as flash_service
from app.groupbuy import service as group_service
from app.order.models import Order
from app.order.rules import LIVE
from app.pagination import keyset
from app.pickup import service as pickup_service
from app.points.models import PointEntry
from app.queue import release_lock
from app.share import poster as poster_drawing
from app.share.errors import PosterUnavailable, ShareNotFound, ShareTargetNotFound
from app.share.models import Share, ShareOpen, SharePoster, TargetType
from app.wechat.client import WechatApiError, wechat_client

log = logging.getLogger(__name__)

T = TargetType
BASE62 = string.digits + string.ascii_letters
# The mini-program page each kind of target opens on (onShareAppMessage's path, the code's page).
PAGES = {T.product.value: "pages/product/detail", T.flash_sale.value: "pages/flash-sale/detail",
         T.group.value: "pages/group/detail", T.bargain_record.value: "pages/bargain/record"}
REWARD, REWARD_REVERSED = "share_reward", "reward_reversed"


def new_token() -> str:
    """16 random bytes in base62: 22 characters at most, well inside a code scene's 32."""
    n, out = int.from_bytes(secrets.token_bytes(16), "big"), []
    while n:
        n, r = divmod(n, 62)
        out.append(BASE62[r])
    return "".join(reversed(out)) or "0"


def page_of(share: Share) -> str:
    return PAGES[share.target_type]


def path_of(share: Share) -> str:
    return f"{page_of(share)}?id={share.target_id}&share={share.token}"


@dataclass
class Target:
    name: str
    price: int  # fen: what the shared thing sells at now (a product: its cheapest SKU)


def _sku_name(session: Session, sku_id: int) -> str:
    sku = session.get(Sku, sku_id)
    product = session.get(Product, sku.product_id) if sku else None
    return f"{product.name} {sku.name}".strip() if product else ""


def describe_target(session: Session, *, target_type: str, target_id: int) -> Target:
    """The shared thing's name and price; ShareTargetNotFound if it does not exist."""
    try:
        if target_type == T.product.value:
            product = catalog_service.get_product(session, target_id)
            skus = catalog_service.products_with_skus(session, [product], active_only=True)[0][1]
            return Target(product.name, min((s.price for s in skus), default=0))
        if target_type == T.flash_sale.value:
            sale = flash_service.get_sale(session, target_id)
            return Target(_sku_name(session, sale.sku_id), sale.price)
        if target_type == T.group.value:
            group = group_service.get_group(session, target_id)
            campaign = group_service.get_campaign(session, group.campaign_id)
            return Target(_sku_name(session, campaign.sku_id), campaign.group_price)
        if target_type == T.bargain_record.value:
            record = bargain_service.get_record(session, target_id)
            campaign = bargain_service.get_campaign(session, record.campaign_id)
            return Target(_sku_name(session, campaign.sku_id), record.current_price)
    except NotFound:
        pass
    raise ShareTargetNotFound(f"No {target_type} {target_id} to share.", target_type=target_type,
                              target_id=target_id)


def create_share(session: Session, *, sharer_id: int, target_type: str, target_id: int) -> Share:
    """A share of the target by the sharer, carrying the sharer's bound point and its leader. The
    same sharer sharing the same target through the same point gets the same token again (one
    set of figures, one poster)."""
    describe_target(session, target_type=target_type, target_id=target_id)
    point_id = auth_service.profile(session, sharer_id)["pickup_point_id"]
    leader_id = None
    if point_id is not None:
        try:
            leader_id = pickup_service.require_point(session, point_id).leader_id
        except NotFound:
            point_id = None
    existing = session.exec(select(Share).where(Share.sharer_id == sharer_id, Share.target_type == target_type,
                                                Share.target_id == target_id, Share.pickup_point_id == point_id)
                            .order_by(Share.id.desc())).first()
    if existing is not None:
        return existing
    share = Share(token=new_token(), sharer_id=sharer_id, target_type=target_type, target_id=target_id,
                  pickup_point_id=point_id, leader_id=leader_id)
    session.add(share)
    session.flush()
    return share


def get_share(session: Session, token: str) -> Share:
    share = session.exec(select(Share).where(Share.token == token)).first()
    if share is None:
        raise ShareNotFound(f"No share {token}.")
    return share


@dataclass
class Opened:
    share: Share
    sharer_nickname: str
    leader: tuple[int, str] | None  # (id, nickname)
    point: tuple[int, str, str] | None  # (id, name, address)
    bound: bool


def _record_visit(session: Session, *, share_id: int, visitor_id: int) -> None:
    """One row per (share, visitor) whatever races (the unique key); a later open moves opened_at,
    the clock attribution reads."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table, now = ShareOpen.__table__, utcnow()
    ins = dialect.insert(table).values(share_id=share_id, visitor_id=visitor_id, bound=False,
                                       first_opened_at=now, opened_at=now)
    session.execute(ins.on_conflict_do_update(index_elements=["share_id", "visitor_id"],
                                              set_={"opened_at": ins.excluded.opened_at}))


def _bind(session: Session, *, share: Share, visitor_id: int, mode: str) -> bool:
    """Bind the visitor to the share's point as LINLI_BINDING_MODE says; False if it did not."""
    if mode == "off" or share.pickup_point_id is None:
        return False
    # The visitor's row lock: two shares opened at once by a newcomer bind one after the other,
    # so "first" means the first.
    current = auth_service.lock_buyer(session, user_id=visitor_id)
    if current == share.pickup_point_id or (mode == "first" and current is not None):
        return False
    try:
        auth_service.bind_pickup_point(session, user_id=visitor_id, pickup_point_id=share.pickup_point_id)
    except DomainError:  # the point is closed or its leader suspended: no binding, no error
        return False
    session.execute(ShareOpen.__table__.update()
                    .where(ShareOpen.share_id == share.id, ShareOpen.visitor_id == visitor_id).values(bound=True))
    return True


def open_share(session: Session, *, token: str, visitor_id: int, binding_mode: str) -> Opened:
    share = get_share(session, token)
    bound = False
    if visitor_id != share.sharer_id:  # the sharer opening their own share records nothing
        # The visitor's row first, before the visit's insert references it (a key-share lock):
        # two shares opened at once by one visitor then queue here instead of deadlocking.
        auth_service.lock_buyer(session, user_id=visitor_id)
        _record_visit(session, share_id=share.id, visitor_id=visitor_id)
        bound = _bind(session, share=share, visitor_id=visitor_id, mode=binding_mode)
    leader = point = None
    if share.pickup_point_id is not None:
        try:
            p, ldr, user = pickup_service.get_point(session, share.pickup_point_id)
            leader, point = (ldr.id, user.nickname), (p.id, p.name, p.address)
        except NotFound:
            pass
    nickname = auth_service.nicknames(session, user_ids=[share.sharer_id]).get(share.sharer_id, "")
    return Opened(share, nickname, leader, point, bound)


def my_shares(session: Session, *, sharer_id: int, before_id: int | None, limit: int):
    """(share, visits, orders, points_earned) per share, newest first, each figure a correlated
    subquery: one statement for the page, whatever its size."""
    visits = select(func.count(ShareOpen.id)).where(ShareOpen.share_id == Share.id).scalar_subquery()
    orders = select(func.count(Order.id)).where(Order.share_token == Share.token,
                                                Order.status.in_(LIVE)).scalar_subquery()
    earned = (select(func.coalesce(func.sum(PointEntry.amount), 0)).join(Order, Order.id == PointEntry.order_id)
              .where(Order.share_token == Share.token, PointEntry.user_id == Share.sharer_id,
                     PointEntry.reason.in_([REWARD, REWARD_REVERSED])).scalar_subquery())
    q = select(Share, visits, orders, earned).where(Share.sharer_id == sharer_id)
    return list(session.exec(keyset(q, Share.id, before_id, limit)).all())


# ---- posters --------------------------------------------------------------------------------------


# Longer than a WeChat call can take with its retries (LINLI_WECHAT_TIMEOUT_S × a few): the lock
# must not lapse while its holder still waits on WeChat, or a second call would be made.
POSTER_LOCK_S = 60


def _cached(token: str) -> tuple[Share, SharePoster | None]:
    with reading() as s:
        share = get_share(s, token)
        return share, s.get(SharePoster, share.id)


def poster(*, token: str) -> SharePoster:
    """The share's poster, drawn once. This use case owns its transactions: the mini-program code
    is fetched from WeChat outside any. Concurrent first requests cost ONE WeChat call: one of
    them holds a Redis lock per share and draws; the others wait for its row (and answer 503
    poster_unavailable if it failed, rather than each asking WeChat again)."""
    share, cached = _cached(token)
    if cached is not None:
        return cached
    if current_app.extensions["linli.settings"].poster_placeholder:
        return _placeholder(share)
    redis = current_app.extensions["linli.redis"]
    lock = redis.lock(f"linli:share-poster:{share.id}", timeout=POSTER_LOCK_S)
    if lock.acquire(blocking=False):
        try:
            return _draw(share)
        finally:
            release_lock(lock)
    deadline = time.monotonic() + POSTER_LOCK_S
    while lock.locked() and time.monotonic() < deadline:
        time.sleep(0.05)
    _, cached = _cached(token)
    if cached is None:
        raise PosterUnavailable("The poster could not be drawn just now; try again.")
    return cached


PLACEHOLDER_ETAG = "placeholder-"


def is_placeholder(p: SharePoster) -> bool:
    return p.etag.startswith(PLACEHOLDER_ETAG)


def _placeholder(share: Share) -> SharePoster:
    """LINLI_POSTER_PLACEHOLDER (dev, test): the poster drawn around a placeholder code, WeChat not
    asked (a dev appid gets no code) and the poster not kept (turn the setting off and the next
    request draws the real one)."""
    target, point = _poster_text(share)
    png = poster_drawing.render(poster_drawing.PosterText(
        name=target.name, price=target.price, point_name=point.name if point else None,
        point_address=point.address if point else None), poster_drawing.placeholder_code(share.token))
    return SharePoster(share_id=share.id, png=png, etag=PLACEHOLDER_ETAG + hashlib.sha256(png).hexdigest()[:20],
                       created_at=utcnow())


def _poster_text(share: Share):
    """(target, pickup point or None) a poster shows."""
    with reading() as s:
        target = describe_target(s, target_type=share.target_type, target_id=share.target_id)
        point = None
        if share.pickup_point_id is not None:
            try:
                point = pickup_service.require_point(s, share.pickup_point_id)
            except NotFound:
                pass
    return target, point


def _draw(share: Share) -> SharePoster:
    with reading() as s:
        # Drawn by the previous holder of the lock between our first read and our lock?
        cached = s.get(SharePoster, share.id)
        if cached is not None:
            return cached
    target, point = _poster_text(share)
    try:
        code = wechat_client().wxacode_get_unlimited(scene=share.token, page=page_of(share))
    except WechatApiError as e:
        log.warning("poster for share %s: WeChat getwxacodeunlimit failed (%s)", share.id, e.code)
        raise PosterUnavailable(f"WeChat did not give the mini-program code ({e.code}); try again later.",
                                wechat_code=e.code) from None
    png = poster_drawing.render(poster_drawing.PosterText(
        name=target.name, price=target.price, point_name=point.name if point else None,
        point_address=point.address if point else None), code)
    with transaction() as s:
        dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
        s.execute(dialect.insert(SharePoster.__table__).values(
            share_id=share.id, png=png, etag=hashlib.sha256(png).hexdigest()[:32], created_at=utcnow())
            .on_conflict_do_nothing())
        return s.get(SharePoster, share.id)
