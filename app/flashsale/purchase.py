"""A flash purchase once its request is known good: the per-user and per-address rate limits and
the sale's script. The route and the lane in front of Flask (app.flashsale.lane) both come here."""
from __future__ import annotations

import logging
import threading

from flask import current_app
from limits import parse_many
from redis.exceptions import RedisError
from werkzeug.exceptions import ServiceUnavailable, TooManyRequests

from app.auth import service as auth_service
from app.config import current_settings as settings
from app.db import reading, transaction
from app.flashsale import lua, service
from app.flashsale.errors import OutOfNumbers, PurchaseRateLimited
from app.flashsale.schemas import PurchaseBody, PurchaseOut
from app.metrics import FLASH_PURCHASES
from app.order.errors import NoPickupPoint

log = logging.getLogger(__name__)

def _rate_limits():
    """(limits, script, per-thread connection, counted in the purchase script?) for this app,
    worked out once: the settings do not change while it runs."""
    ext = current_app.extensions
    if "linli.flash_rate" not in ext:
        conf = settings()
        limits = [("fsu", item) for item in parse_many(conf.flash_ratelimit_user)]
        limits += [("fsip", item) for item in parse_many(conf.flash_ratelimit_ip)]
        ext["linli.flash_rate"] = (limits, ext["linli.redis"].register_script(lua.RATE_LIMITS), threading.local(),
                                   service.shares_rate_limit_redis(conf))
    return ext["linli.flash_rate"]


def _too_many(wait_ms: int) -> TooManyRequests:
    return TooManyRequests("Too many purchase attempts; try again shortly.", retry_after=max(1, -(-wait_ms // 1000)))


def purchase_rate(user_id: int, remote_addr: str | None) -> tuple[list, list] | None:
    """The per-user and per-address purchase limits of this request: the counters and their
    (amount, window) pairs for the purchase script to count, or None when there is nothing
    left to count (rate limiting off, or counted here already by their own script on the
    rate-limit Redis: 429 with Retry-After past a limit)."""
    if not settings().ratelimit_enabled:
        return None
    limits, script, own, together = _rate_limits()
    who = {"fsu": f"fsu:{user_id}", "fsip": f"fsip:{remote_addr or '?'}"}
    keys, args = [], []
    for kind, item in limits:
        keys.append(item.key_for(who[kind], "flash_purchase"))
        args += [item.amount, item.get_expiry()]
    if together:
        return keys, args
    try:
        wait_ms = int(service.run_on_kept_connection(script, keys, args, own))
    except RedisError:  # Redis down: serve rather than refuse every buyer (RATELIMIT_SWALLOW_ERRORS)
        log.exception("flash-sale rate limits not counted")
        return None
    if wait_ms:
        raise _too_many(wait_ms)
    return None


def require_bound_point(user_id: int) -> None:
    """Refuse at once, as POST /orders does, a purchase whose order could have no pickup point
    (none in the body, none bound): one indexed read, instead of a reservation that fails in the
    drain. Whether the point is open is still the drain's to find (it may close meanwhile)."""
    with reading() as s:
        if auth_service.bound_points(s, user_ids={user_id}).get(user_id) is None:
            raise NoPickupPoint("Give pickup_point_id or bind a pickup point first (PUT /me/pickup-point).")


def _purchase(sale_id: int, user_id: int, body: PurchaseBody, key: str | None, rate) -> str:
    """The sale's script; when the reservation numbers the database granted are used up (once per
    service.SEQ_BLOCK reservations), a new block is granted there, then Redis runs it again
    (the rate limits are counted already)."""
    for _ in range(3):
        try:
            return service.purchase(sale_id=sale_id, user_id=user_id, qty=body.qty,
                                    pickup_point_id=body.pickup_point_id, idem_key=key, rate=rate)
        except OutOfNumbers as e:
            with transaction() as s:
                ceiling = service.grant_numbers(s, sale_id=sale_id, above=e.ceiling)
            service.publish_ceiling(sale_id, ceiling)
            rate = None
    raise RedisError("the sale's reservation ceiling did not take")


def take(sale_id: int, user_id: int, body: PurchaseBody, key: str | None, remote_addr: str | None) -> PurchaseOut:
    """The purchase, counted by result for GET /metrics (accepted, or the refusal's code)."""
    try:
        out = _take(sale_id, user_id, body, key, remote_addr)
    except Exception as e:
        FLASH_PURCHASES.labels(getattr(e, "code", None) or ("rate_limited" if isinstance(e, TooManyRequests) else
                                                            "unavailable" if isinstance(e, ServiceUnavailable)
                                                            else "error")).inc()
        raise
    FLASH_PURCHASES.labels("accepted").inc()
    return out


def _take(sale_id: int, user_id: int, body: PurchaseBody, key: str | None, remote_addr: str | None) -> PurchaseOut:
    """The purchase once its request is known good (an app context): the rate limits and the
    sale's script. The route and the purchase's lane (app.flashsale.lane) both come here."""
    if body.pickup_point_id is None:
        require_bound_point(user_id)
    try:
        res_id = _purchase(sale_id, user_id, body, key, purchase_rate(user_id, remote_addr))
    except PurchaseRateLimited as e:
        raise _too_many(e.wait_ms) from None
    except RedisError as e:
        # Whether a command that timed out ran is unknown: the same Idempotency-Key tells.
        log.error("flash-sale purchase not taken, the sale's Redis failed: %r", e)
        raise ServiceUnavailable("Flash sales cannot be reached right now; try again shortly (with the same "
                                 "Idempotency-Key, a purchase that did go through answers with its reservation).",
                                 retry_after=1) from None
    return PurchaseOut(reservation_id=res_id, status="pending")
