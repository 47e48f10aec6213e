"""Flash-sale use cases that own their transactions. The drain: a flash sale's queued reservations (a Redis stream) turned into orders in batches,
each batch one database transaction. It owns its transactions and is run by workers (and the
CLI), never inside a request; a crash between the database and the acknowledgement replays the
batch, which the reservation's state in Redis and the orders' unique source_ref make harmless."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from redis import Redis
from redis.exceptions import ResponseError
from sqlalchemy import update
from sqlmodel import Session, select

from app.catalog import service as catalog_service
from app.config import Settings
from app.db import reading, transaction, utcnow
from app.flashsale.models import FlashSale
from app.flashsale.service import GROUP, SOURCE, _k, build_state, keys, rds, scripts
from app.order import placing as order_placing


def live_sale_ids() -> list[int]:
    with reading() as s:
        return list(s.exec(select(FlashSale.id).where(FlashSale.settled_at.is_(None)).order_by(FlashSale.id)))


def _read(sale_id: int, consumer: str, count: int, min_idle_ms: int) -> list[tuple[str, dict]]:
    r, stream = rds(), keys(sale_id)["stream"]
    try:
        # First what this consumer read and never acknowledged (it crashed), then what another
        # consumer left idle too long, then new entries.
        got = r.xreadgroup(GROUP, consumer, {stream: "0"}, count=count)
        entries = got[0][1] if got else []
        entries = [e for e in entries if e[1]]  # entries deleted meanwhile come back empty
        if not entries:
            claimed = r.xautoclaim(stream, GROUP, consumer, min_idle_ms, "0-0", count=count)
            entries = [e for e in claimed[1] if e[1]]
        if not entries:
            got = r.xreadgroup(GROUP, consumer, {stream: ">"}, count=count)
            entries = got[0][1] if got else []
    except ResponseError as e:
        if "NOGROUP" not in str(e):
            raise
        build_state(sale_id)
        return []
    return entries


def drain_sale(sale_id: int, *, consumer: str = "drain", batch: int | None = None, min_idle_ms: int = 30_000,
               max_batches: int | None = None) -> int:
    """Turn the sale's queued reservations into orders until none is left; returns how many
    reservations were settled (confirmed or failed)."""
    settings = current_app.extensions["linli.settings"]
    batch = batch or settings.flash_drain_batch
    total, rounds = 0, 0
    while max_batches is None or rounds < max_batches:
        entries = _read(sale_id, consumer, batch, min_idle_ms)
        if not entries:
            break
        total += _drain_batch(sale_id, entries, settings)
        rounds += 1
    return total


@dataclass
class _Res:
    entry_id: str
    n: str
    user: int
    qty: int
    point: int | None


def _drain_batch(sale_id: int, entries, settings: Settings) -> int:
    r, k = rds(), keys(sale_id)
    items = [_Res(eid, f["n"], int(f["u"]), int(f["q"]), int(f["p"]) if f.get("p") else None) for eid, f in entries]
    states = r.hmget(k["res"], [it.n for it in items])
    # Already settled by an earlier run (it crashed before acknowledging): acknowledge only.
    todo = [it for it, st in zip(items, states) if st is None or st.startswith("pending|")]
    refs = {f"{sale_id}-{it.n}": it for it in todo}
    confirmed: dict[str, int] = {}
    failed: dict[str, str] = {}
    try:
        with transaction() as s:
            confirmed, failed = _confirm(s, sale_id, list(refs.values()), settings)
    except _Overfull:
        # The database refused the batch as a whole (Redis let through more than the sale holds,
        # e.g. after a lost write): settle the reservations one by one, so only the excess fails.
        for it in refs.values():
            try:
                with transaction() as s:
                    c, f = _confirm(s, sale_id, [it], settings)
            except _Overfull as e:
                c, f = {}, {f"{sale_id}-{it.n}": e.reason}
            confirmed.update(c)
            failed.update(f)
    pipe = r.pipeline(transaction=False)
    for ref, oid in confirmed.items():
        it = refs[ref]
        pipe.hset(k["res"], it.n, f"confirmed|{it.user}|{it.qty}|{oid}")
    pipe.execute()
    for ref, reason in failed.items():
        it = refs[ref]
        scripts().give_back(keys=_k(sale_id, "meta", "left", "users", "res"),
                            args=[it.n, "pending", f"failed|{it.user}|{it.qty}|{reason}"])
    r.xack(k["stream"], GROUP, *[it.entry_id for it in items])
    return len(items)


class _Overfull(Exception):
    def __init__(self, reason: str):
        self.reason = reason


def _confirm(session: Session, sale_id: int, items: list[_Res], settings: Settings):
    sale = session.get(FlashSale, sale_id)
    if sale is None:
        return {}, {f"{sale_id}-{it.n}": "sale_not_found" for it in items}
    result = order_placing.place_orders_bulk(
        session, settings=settings, source=SOURCE, pay_timeout_s=settings.flash_payment_timeout_s,
        lines=[order_placing.BulkLine(source_ref=f"{sale_id}-{it.n}", buyer_id=it.user, pickup_point_id=it.point,
                                      sku_id=sale.sku_id, qty=it.qty, unit_price=sale.price) for it in items])
    by_ref = {f"{sale_id}-{it.n}": it for it in items}
    units = sum(by_ref[ref].qty for ref in result.created)
    if units:
        # The database's own guard: units held by orders never exceed the sale's stock, and a
        # settled sale (its rest given back to the SKU) takes no more.
        ok = session.exec(update(FlashSale).where(FlashSale.id == sale_id, FlashSale.held + units <= FlashSale.stock,
                                                  FlashSale.settled_at.is_(None))
                          .values(held=FlashSale.held + units)).rowcount
        if not ok:
            raise _Overfull("sale_closed" if sale.settled_at is not None else "sold_out")
    return result.orders, result.failed


def redis_incarnation() -> str | None:
    """The flash-sale Redis's run_id: a new one after every restart or failover (None for a
    cluster, whose nodes each have their own)."""
    r = rds()
    if not isinstance(r, Redis):
        return None
    return r.info("server").get("run_id")


def reconcile(sale_id: int) -> int:
    """After Redis lost data: drain what is still queued, then rebuild the state from the database."""
    drain_sale(sale_id, consumer="reconcile", min_idle_ms=0)
    return build_state(sale_id, force=True)


# ---- the end of a sale -------------------------------------------------------------------------------

def settle(sale_id: int, *, now: datetime | None = None) -> int | None:
    """Give the sale's unsold units back to the SKU, once, after its end: the reservations still
    queued become orders first. Returns the units given back (None: not due or already done)."""
    now = now or utcnow()
    with reading() as s:
        sale = s.get(FlashSale, sale_id)
        if sale is None or sale.settled_at is not None or sale.ends_at > now:
            return None
    drain_sale(sale_id, consumer="settle", min_idle_ms=0)
    with transaction() as s:
        row = s.execute(update(FlashSale).where(FlashSale.id == sale_id, FlashSale.settled_at.is_(None),
                                                FlashSale.ends_at <= now)
                        .values(settled_at=now, returned_to_sku=FlashSale.stock - FlashSale.held)
                        .returning(FlashSale.returned_to_sku, FlashSale.sku_id)
                        .execution_options(synchronize_session=False)).first()
        if row is None:
            return None
        back, sku_id = row
        if back:
            catalog_service.return_stock(s, sku_id=sku_id, qty=back)
    k = keys(sale_id)
    rds().set(k["left"], 0)  # nothing more to sell (the window is closed anyway)
    rds().delete(k["idem"])  # replayed answers are only worth keeping while the sale runs
    return int(back)


def settle_due(*, now: datetime | None = None) -> int:
    now = now or utcnow()
    with reading() as s:
        ids = list(s.exec(select(FlashSale.id).where(FlashSale.settled_at.is_(None), FlashSale.ends_at <= now)))
    return sum(1 for i in ids if settle(i, now=now) is not None)
