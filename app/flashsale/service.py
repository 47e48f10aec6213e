"""Flash sales: create (carving stock out of the SKU), purchase (one Redis script, no database),
drain reservations into orders in batches, give units back, settle the unsold rest, rebuild Redis."""
from __future__ import annotations

import functools
import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from select import POLLIN, poll

from flask import current_app
from redis import Redis
from redis.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import case, func, or_, update
from sqlmodel import Session, select

from app.catalog import campaigns
from app.catalog import service as catalog_service
from app.config import Settings
from app.db import after_commit, get_or_raise, reading, utcnow
from app.errors import Ended, LimitExceeded, NotStarted, SoldOut
from app.flashsale import lua
from app.flashsale.errors import (BadWindow, FlashSaleNotFound, OutOfNumbers, PurchaseRateLimited, ReservationNotFound,
                                  UserBlocked)
from app.flashsale.models import FlashSale
from app.order.models import Order, OrderItem, OrderSource, OrderStatus
from app.queue import get_queue

log = logging.getLogger(__name__)
SOURCE = OrderSource.flash_sale.value
GROUP = "drain"
BLOCKED = "flash:blocked"  # every blocked user; copied into each sale's own set (one shard per script)


REFUSALS = {c.code: c for c in (SoldOut, LimitExceeded, NotStarted, Ended, UserBlocked)}
REFUSAL_TEXT = {"sold_out": "The flash sale is sold out.",
                "limit_exceeded": "That would take you past the sale's per-user limit.",
                "not_started": "The flash sale has not started yet.", "ended": "The flash sale has ended.",
                "user_blocked": "This account may not take part in flash sales."}


# ---- Redis ------------------------------------------------------------------------------------

def connect(settings: Settings):
    url = settings.flash_redis_url or settings.redis_url
    if url.startswith("redis+cluster://"):
        return RedisCluster.from_url("redis://" + url[len("redis+cluster://"):], decode_responses=True)
    if settings.flash_redis_cluster:
        return RedisCluster.from_url(url, decode_responses=True)
    return Redis.from_url(url, decode_responses=True, socket_timeout=5, health_check_interval=30)


def run_on_kept_connection(script, keys: list, args: list, own: threading.local):
    """Run a registered script in one round trip on a connection this thread keeps (in `own`):
    redis-py's pool checkout (a lock, a pid check, a poll, metrics), command wrapper and retry
    cost about 30 of a call's 60 µs of CPU, twice or more on a purchase. A cluster routes by key:
    its own client does it. A command that may have run is never sent again (redis-py retries
    after a read timeout, which would reserve twice); only one that certainly did not run:
    refused before sending, or NOSCRIPT (Redis restarted or flushed its scripts)."""
    client = script.registered_client
    if not isinstance(client, Redis):
        return script(keys=keys, args=args)
    conn = getattr(own, "conn", None)
    if conn is None:
        conn = own.conn = client.connection_pool.make_connection()
    command = _packed_evalsha(script.sha, keys, args)
    for attempt in range(3):
        try:
            # Data waiting on an idle connection means it is broken (closed by the server). One
            # poll(0) on a poller kept with the socket: redis-py's can_read switches the socket to
            # non-blocking and back around a recv, three system calls a purchase.
            sock = conn._sock
            if sock is not None:
                if getattr(own, "polled", None) is not sock:
                    own.poller, own.polled = poll(), sock
                    own.poller.register(sock, POLLIN)
                if own.poller.poll(0):
                    conn.disconnect()
            conn.send_packed_command(command)
        except (RedisConnectionError, RedisTimeoutError):
            conn.disconnect()
            if attempt:
                raise
            continue
        try:
            return conn.read_response()
        except NoScriptError:
            if attempt == 2:
                raise
            client.script_load(script.script)
    raise AssertionError("unreachable")


def _packed_evalsha(sha: str, keys, args) -> list[bytes]:
    """EVALSHA in Redis's protocol, as redis-py's pack_command writes it (str and int as their
    UTF-8 text, bytes as they are), with less work: the sale's keys come encoded (_all_keys),
    and one join makes one buffer to send (about 20 µs less CPU a purchase than pack_command)."""
    items = [b"EVALSHA", sha.encode(), b"%d" % len(keys)]
    items += [a if type(a) is bytes else str(a).encode() for a in (*keys, *args)]
    return [b"*%d\r\n" % len(items) + b"".join([b"$%d\r\n%s\r\n" % (len(x), x) for x in items])]


class _Scripts:
    def __init__(self, r):
        self.r = r
        self.purchase = r.register_script(lua.PURCHASE)
        self.rated_purchase = r.register_script(lua.RATED_PURCHASE)
        self.give_back = r.register_script(lua.GIVE_BACK)
        self.rebuild = r.register_script(lua.REBUILD)
        self.raise_ceiling = r.register_script(lua.RAISE_CEILING)
        self._own = threading.local()

    def run_purchase(self, keys, args, rated: bool = False) -> str:
        return run_on_kept_connection(self.rated_purchase if rated else self.purchase, keys, args, self._own)


def shares_rate_limit_redis(settings: Settings) -> bool:
    """The sales' Redis is the rate limits' own plain Redis (LINLI_FLASH_REDIS_URL unset or the
    same as LINLI_REDIS_URL, and not a cluster, as connect() read it): a purchase counts its
    limits in its own script."""
    return (settings.flash_redis_url or settings.redis_url) == settings.redis_url and isinstance(rds(), Redis)


def scripts() -> _Scripts:
    ext = current_app.extensions
    if "linli.flash" not in ext:
        ext["linli.flash"] = _Scripts(connect(ext["linli.settings"]))
    return ext["linli.flash"]


def rds():
    return scripts().r


def keys(sale_id: int) -> dict[str, str]:
    return {name: f"{{fs:{sale_id}}}:{name}" for name in lua.KEY_NAMES}


@functools.lru_cache(maxsize=4096)
def _all_keys(sale_id: int) -> tuple[bytes, ...]:
    """Every key of a sale, encoded once: the purchase sends them all, every time."""
    return tuple(f"{{fs:{sale_id}}}:{name}".encode() for name in lua.KEY_NAMES)


def _k(sale_id: int, *names: str) -> list[str]:
    k = keys(sale_id)
    return [k[n] for n in names]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


RES_ID = re.compile(r"^([1-9][0-9]{0,9})-([1-9][0-9]{0,15})$")


def parse_reservation(res_id: str) -> tuple[int, int]:
    m = RES_ID.match(res_id or "")
    if not m:
        raise ReservationNotFound(f"Reservation {res_id} does not exist.")
    return int(m.group(1)), int(m.group(2))


# ---- creating and listing -----------------------------------------------------------------------

def create_sale(session: Session, *, sku_id: int, price: int, stock: int, starts_at: datetime, ends_at: datetime,
                per_user_limit: int) -> FlashSale:
    if campaigns.window_errors(starts_at, ends_at):
        raise BadWindow("ends_at must be after starts_at.")
    if ends_at <= utcnow():
        raise BadWindow("ends_at is in the past.")
    campaigns.carve_stock(session, sku_id=sku_id, stock=stock)
    sale = FlashSale(sku_id=sku_id, price=price, stock=stock, per_user_limit=per_user_limit,
                     starts_at=starts_at, ends_at=ends_at)
    session.add(sale)
    session.flush()
    sale_id = sale.id

    def _after():
        build_state(sale_id)
        get_queue().enqueue_at(ends_at, "app.flashsale.jobs.settle_flash_sale_job", sale_id,
                               job_id=f"flash-settle-{sale_id}")

    after_commit(_after)
    return sale


def get_sale(session: Session, sale_id: int) -> FlashSale:
    sale = get_or_raise(session, FlashSale, sale_id, FlashSaleNotFound(f"Flash sale {sale_id} does not exist."))
    return sale


def list_sales(session: Session, *, status: str | None, now: datetime | None = None) -> list[FlashSale]:
    now = now or utcnow()
    q = select(FlashSale).where(FlashSale.ends_at > now)
    if status == "active":
        q = q.where(FlashSale.starts_at <= now)
    elif status == "upcoming":
        q = q.where(FlashSale.starts_at > now)
    return list(session.exec(q.order_by(FlashSale.starts_at, FlashSale.id).limit(200)))


def stock_left(sales: list[FlashSale]) -> dict[int, int]:
    """Units left per sale, as Redis counts them; a sale without Redis state yet counts from the database."""
    out = {}
    for sale in sales:
        v = rds().get(keys(sale.id)["left"])
        out[sale.id] = int(v) if v is not None else max(0, sale.stock - sale.held)
    return out


# ---- the hot path -------------------------------------------------------------------------------

def purchase(*, sale_id: int, user_id: int, qty: int, pickup_point_id: int | None, idem_key: str | None,
             rate: tuple[list, list] | None = None) -> str:
    """Take qty units of the sale for the user in one script (window, blocked, limit, stock,
    idempotency) and queue the reservation for the drain. No database read unless the sale has
    no Redis state yet (first use, or Redis lost it). `rate`: the request's rate-limit counters
    and their (amount, window) pairs, counted first in the same script (only where
    shares_rate_limit_redis); PurchaseRateLimited past one. OutOfNumbers when the reservation
    numbers the database granted are used up (grant_numbers, then call again without `rate`)."""
    args = [str(user_id), str(qty), str(pickup_point_id or ""), idem_key or ""]
    if rate:
        out = scripts().run_purchase(_all_keys(sale_id) + tuple(rate[0]), args + rate[1], rated=True)
        if out.startswith("L|"):
            raise PurchaseRateLimited(int(out[2:]))
    else:
        out = scripts().run_purchase(_all_keys(sale_id), args)
    if out == "M":
        build_state(sale_id)
        out = scripts().run_purchase(_all_keys(sale_id), args)  # (the limits are counted already)
    kind, _, value = out.partition("|")
    if kind == "S":
        raise OutOfNumbers(int(value))
    if kind == "E":
        raise REFUSALS[value](REFUSAL_TEXT[value])
    if kind != "R":
        raise FlashSaleNotFound(f"Flash sale {sale_id} does not exist.")
    return f"{sale_id}-{value}"


@dataclass
class ReservationView:
    status: str
    order_id: int | None = None
    reason: str | None = None


def reservation(*, res_id: str, user_id: int) -> ReservationView:
    sale_id, n = parse_reservation(res_id)
    rec = rds().hget(keys(sale_id)["res"], str(n))
    if rec is None:
        return _reservation_from_db(sale_id, n, res_id, user_id)
    state, user, _qty, *rest = rec.split("|")
    if user != str(user_id):  # another buyer's reservation answers like a missing one
        raise ReservationNotFound(f"Reservation {res_id} does not exist.")
    if state == "pending":
        return ReservationView("pending")
    if state == "failed":
        return ReservationView("failed", reason=rest[0] if rest else None)
    return ReservationView("confirmed", order_id=int(rest[0]))


# A reservation Redis handed out and then lost (a restart without AOF, a flush, a failover to a
# replica behind it) before the drain made it an order: its units went back to the sale.
LOST = "lost_by_redis"
MAX_SALE_ID = 2**31 - 1  # an id column's range: a larger one is no sale (and PostgreSQL refuses to compare it)


def _reservation_from_db(sale_id: int, n: int, res_id: str, user_id: int) -> ReservationView:
    with reading() as s:
        order = s.exec(select(Order).where(Order.source == SOURCE, Order.source_ref == res_id)).first()
        exists = sale_id <= MAX_SALE_ID and s.get(FlashSale, sale_id) is not None
    if order is not None:
        if order.buyer_id != user_id:
            raise ReservationNotFound(f"Reservation {res_id} does not exist.")
        return ReservationView("confirmed", order_id=order.id)
    if exists:
        # Numbers at or below the counter were handed out, and Redis keeps every record it did not
        # lose: one missing there and in the database was lost (its owner is not known any more).
        seq = rds().get(keys(sale_id)["seq"])
        if seq is None:  # the state itself is gone: rebuilding it restarts the counter above every loss
            build_state(sale_id)
            seq = rds().get(keys(sale_id)["seq"])
        if n <= int(seq or 0):
            return ReservationView("failed", reason=LOST)
    raise ReservationNotFound(f"Reservation {res_id} does not exist.")


# ---- Redis state from the database ------------------------------------------------------------------

def _live_orders(session: Session, sale_id: int) -> list[tuple[str, int, int, int]]:
    """(source_ref, buyer, units, order id) of the sale's orders that hold units."""
    return list(session.exec(
        select(Order.source_ref, Order.buyer_id, OrderItem.qty, Order.id)
        .join(OrderItem, OrderItem.order_id == Order.id)
        .where(Order.source == SOURCE, Order.source_ref.like(f"{sale_id}-%"),
               or_(Order.status.notin_([OrderStatus.cancelled.value, OrderStatus.refunded.value]),
                   Order.shipped_at.is_not(None)))).all())


def build_state(sale_id: int, *, force: bool = False) -> int:
    """Write the sale's Redis state from the database: units left = stock − units held by live
    orders − units of reservations Redis still holds as pending; per-user counts alike; the
    reservation counter above every number the database knows. Without force, a state already
    there is kept (the first use after creation or a loss). Returns the units left (-1: kept)."""
    with reading() as s:
        sale = get_sale(s, sale_id)
        live = _live_orders(s, sale_id)
        max_n = max((int(ref.split("-")[1]) for ref, *_ in
                     s.exec(select(Order.source_ref, 1).where(Order.source == SOURCE,
                                                              Order.source_ref.like(f"{sale_id}-%"))).all()),
                    default=0)
    k = keys(sale_id)
    r = rds()
    blocked = r.smembers(BLOCKED)
    if blocked:
        r.sadd(k["blocked"], *blocked)
    try:
        r.xgroup_create(k["stream"], GROUP, id="0", mkstream=True)
    except ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise
    # A sale that is over or settled keeps no units to sell.
    stock = 0 if sale.settled_at is not None else sale.stock
    args = ["1" if force else "0", _ms(sale.starts_at), _ms(sale.ends_at), sale.per_user_limit, stock,
            max(max_n, sale.seq_ceiling)]
    for ref, buyer, qty, oid in live:
        args += [ref.split("-")[1], buyer, qty, oid]
    return int(scripts().rebuild(keys=_k(sale_id, "meta", "left", "users", "res", "seq"), args=args))


# Reservation numbers granted to Redis at a time: one database write per this many reservations.
SEQ_BLOCK = 1000


def grant_numbers(session: Session, *, sale_id: int, above: int) -> int:
    """Raise the sale's reservation ceiling past `above` (the ceiling Redis ran out at) in the
    database; concurrent grants from the same ceiling agree on one new value. Returns it: Redis
    may use it once this transaction has committed (publish_ceiling)."""
    wanted = above + SEQ_BLOCK
    row = session.execute(update(FlashSale).where(FlashSale.id == sale_id)
                          .values(seq_ceiling=case((FlashSale.seq_ceiling < wanted, wanted),
                                                   else_=FlashSale.seq_ceiling))
                          .returning(FlashSale.seq_ceiling).execution_options(synchronize_session=False)).first()
    if row is None:
        raise FlashSaleNotFound(f"Flash sale {sale_id} does not exist.")
    return int(row[0])


def publish_ceiling(sale_id: int, ceiling: int) -> None:
    """Let Redis hand out numbers up to `ceiling` (already committed in the database)."""
    scripts().raise_ceiling(keys=_k(sale_id, "meta"), args=[ceiling])


def block_user(user_id: int, *, blocked: bool = True) -> None:
    """Keep a user out of every flash sale (checked inside the purchase script)."""
    r = rds()
    (r.sadd if blocked else r.srem)(BLOCKED, str(user_id))
    with reading() as s:
        ids = list(s.exec(select(FlashSale.id).where(FlashSale.settled_at.is_(None))))
    for sale_id in ids:
        (r.sadd if blocked else r.srem)(keys(sale_id)["blocked"], str(user_id))


# ---- the drain: reservations → orders, in batches ----------------------------------------------------

# ---- units coming back ------------------------------------------------------------------------------

def units_back_on_cancel(session: Session, order: Order) -> None:
    _give_back_units(session, order, reason=order.cancel_reason or "cancelled")


def units_back_on_refund(session: Session, order: Order) -> None:
    if order.shipped_at is None:  # shipped units are gone
        _give_back_units(session, order, reason="refunded")


def _give_back_units(session: Session, order: Order, *, reason: str) -> None:
    """A cancelled or expired flash order's units go back to the sale (database and Redis) and
    to the buyer's limit; once the sale is settled, to the SKU instead."""
    m = RES_ID.match(order.source_ref or "")
    if not m:
        return
    sale_id, n = int(m.group(1)), m.group(2)
    qty = int(session.exec(select(func.coalesce(func.sum(OrderItem.qty), 0))
                           .where(OrderItem.order_id == order.id)).one())
    row = session.execute(update(FlashSale).where(FlashSale.id == sale_id, FlashSale.held >= qty)
                          .values(held=FlashSale.held - qty)
                          .returning(FlashSale.settled_at, FlashSale.sku_id)
                          .execution_options(synchronize_session=False)).first()
    if row is None:
        return
    settled_at, sku_id = row
    if settled_at is not None:
        session.exec(update(FlashSale).where(FlashSale.id == sale_id)
                     .values(returned_to_sku=FlashSale.returned_to_sku + qty))
        catalog_service.return_stock(session, sku_id=sku_id, qty=qty)
        return
    user, oid = order.buyer_id, order.id
    after_commit(lambda: scripts().give_back(keys=_k(sale_id, "meta", "left", "users", "res"),
                                             args=[n, "confirmed", f"returned|{user}|{qty}|{oid}|{reason}"]))


# ---- what operators see -------------------------------------------------------------------------------

@dataclass
class Stats:
    stock: int
    stock_left: int
    reserved: int
    confirmed: int
    paid: int
    expired: int
    returned: int
    returned_to_sku: int


def stats(session: Session, sale: FlashSale, left: int) -> Stats:
    o, i = Order, OrderItem
    units = func.coalesce(func.sum(i.qty), 0)
    base = select(units).join(o, o.id == i.order_id).where(o.source == SOURCE, o.source_ref.like(f"{sale.id}-%"))
    confirmed = session.exec(base).one()
    paid = session.exec(base.where(o.paid_at.is_not(None))).one()
    expired = session.exec(base.where(o.status == OrderStatus.cancelled.value,
                                      o.cancel_reason == "payment_timeout")).one()
    returned = session.exec(base.where(o.status.in_([OrderStatus.cancelled.value, OrderStatus.refunded.value]),
                                       o.shipped_at.is_(None))).one()
    return Stats(stock=sale.stock, stock_left=left, reserved=sale.stock - left, confirmed=int(confirmed),
                 paid=int(paid), expired=int(expired), returned=int(returned),
                 returned_to_sku=sale.returned_to_sku)
