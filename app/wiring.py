"""Who reacts to what, in one place: the order hooks every domain registers, the blueprints the
API serves and the job modules workers load. create_app calls wire() and register_blueprints(),
and the worker, the scheduler and the CLI all build their app with create_app, so no process
depends on which modules it happened to import."""
from __future__ import annotations

import importlib

from flask_openapi3 import OpenAPI

from app.aftersales.routes import bp as aftersales_bp
from app.auth.routes import bp as auth_bp
from app.backoffice.routes import bp as backoffice_bp
from app.bargain import service as bargain_service
from app.bargain.routes import bp as bargain_bp
from app.catalog.routes import bp as catalog_bp
from app.chat import service as chat_service
from app.chat.routes import bp as chat_bp
from app.commission import reactions as commission_reactions
from app.coupons import service as coupons_service
from app.coupons.routes import bp as coupons_bp
from app.earnings import service as earnings_service
from app.earnings.routes import bp as earnings_bp
from app.flashsale import service as flash_service
from app.flashsale.routes import bp as flashsale_bp
from app.groupbuy import service as group_service
from app.groupbuy.routes import bp as groupbuy_bp
from app.leader.routes import bp as leader_bp
from app.manifest.routes import bp as manifest_bp
from app.notify.routes import bp as notify_bp
from app.order import placing
from app.order.hooks import ALL_SOURCES, OrderEvent, OrderHooks, hooks
from app.order.models import OrderSource
from app.order.routes import bp as order_bp
from app.payment import service as payment_service
from app.payment.routes import bp as payment_bp
from app.pickup.routes import bp as pickup_bp
from app.points.routes import bp as points_bp
from app.reconcile import sources as reconcile_sources
from app.reconcile.routes import bp as reconcile_bp
from app.share import reactions as share_reactions
from app.share.routes import bp as share_bp
from app.shipping import service as shipping_service
from app.shipping.routes import bp as shipping_bp
from app.subscribe.routes import bp as subscribe_bp
from app.wallet import reactions as wallet_reactions
from app.wallet import recharges as wallet_recharges
from app.wallet.routes import bp as wallet_bp
from app.workbench.routes import bp as workbench_bp

E = OrderEvent
FLASH, GROUP, BARGAIN = OrderSource.flash_sale.value, OrderSource.group.value, OrderSource.bargain.value

# Modules holding RQ jobs: jobs are enqueued by dotted path, and a worker loads these up front
# (SimpleWorker does not fork per job, so each is imported once per process).
JOB_MODULES = ("app.aftersales.jobs", "app.bargain.jobs", "app.chat.jobs", "app.commission.jobs", "app.earnings.jobs",
               "app.flashsale.jobs", "app.groupbuy.jobs", "app.idempotency", "app.manifest.jobs", "app.order.jobs",
               "app.payment.jobs", "app.reconcile.jobs", "app.shipping.jobs", "app.subscribe.jobs")

# Each domain's refusals (app/<domain>/errors.py): imported here so that error_codes() sees every
# code a client can meet, including those only jobs raise.
ERROR_MODULES = tuple(f"app.{d}.errors" for d in (
    "aftersales", "auth", "bargain", "catalog", "chat", "coupons", "earnings", "flashsale", "groupbuy", "leader",
    "manifest", "order", "payment", "pickup", "points", "reconcile", "share", "shipping", "wallet", "workbench"))


def register_order_hooks(registry: OrderHooks) -> None:
    """The order events each domain reacts to. Within an event, source-specific handlers run
    before ALL_SOURCES ones, each list in the order given here."""
    # A group's paid hook may refuse the payment (the group is full); the campaigns give units back.
    registry.on(E.paid, GROUP, group_service.count_paid_member)
    registry.on(E.refunded, GROUP, group_service.uncount_refunded_member)
    registry.on(E.cancelled, GROUP, group_service.unpaid_member_cancelled)
    registry.on(E.cancelled, FLASH, flash_service.units_back_on_cancel)
    registry.on(E.refunded, FLASH, flash_service.units_back_on_refund)
    registry.on(E.cancelled, BARGAIN, bargain_service.units_back_to_campaign)
    registry.on(E.refunded, BARGAIN, bargain_service.units_back_to_campaign)
    # Every order: points back, money back, the leader's commission and the sharer's reward.
    registry.on(E.cancelled, ALL_SOURCES, placing.give_points_back)
    registry.on(E.refunded, ALL_SOURCES, placing.give_points_back)
    # A coupon comes back, still valid, when its order is cancelled unpaid or wholly refunded.
    registry.on(E.cancelled, ALL_SOURCES, coupons_service.give_back)
    registry.on(E.refunded, ALL_SOURCES, coupons_service.give_back)
    registry.on(E.refunded, ALL_SOURCES, commission_reactions.reverse_on_refund)
    registry.on(E.refunded, ALL_SOURCES, payment_service.refund_when_order_refunded)
    registry.on(E.refunded, ALL_SOURCES, share_reactions.reverse_reward)
    registry.on(E.picked_up, ALL_SOURCES, share_reactions.reward_sharer)
    registry.on(E.picked_up, ALL_SOURCES, commission_reactions.accrue_on_pickup)
    # Member growth: 1 per yuan paid once an order is picked up, taken back if it is refunded.
    registry.on(E.picked_up, ALL_SOURCES, wallet_reactions.growth_on_pickup)
    registry.on(E.refunded, ALL_SOURCES, wallet_reactions.growth_back_on_refund)
    registry.on_set(E.placed, share_reactions.attribute_shares)
    # WeChat is told a paid order shipped once its goods reach the point (the pickup as a fallback);
    # an order refunded before its upload went out is never uploaded.
    registry.on_set(E.received, shipping_service.queue_received)
    registry.on(E.picked_up, ALL_SOURCES, shipping_service.queue_on_pickup)
    registry.on(E.refunded, ALL_SOURCES, shipping_service.void_on_refund)
    # The buyer hears of every change (after the money and stock handlers above).
    for event in (E.paid, E.cancelled, E.refunded, E.arrived, E.picked_up):
        registry.on(event, ALL_SOURCES, chat_service.order_updated)
    registry.on_set(E.shipped, chat_service.orders_shipped)


def register_reconcile_checks(transfer_sources: list, book_checks: dict) -> None:
    """What reconciliation reads beyond payments and refunds: the day's transfers to users (the
    earnings domain's withdrawals) and our own ledgers, each checked against its balance."""
    book_checks["points_ledger"] = reconcile_sources.points_ledger
    book_checks["leader_earnings"] = reconcile_sources.earnings_ledger
    book_checks["wallets"] = reconcile_sources.wallets_ledger
    if earnings_service.transfers_between not in transfer_sources:
        transfer_sources.append(earnings_service.transfers_between)


def register_recharge_reactions(reactions: list) -> None:
    """What follows a wallet recharge's money: a WeChat Pay one is reported to WeChat's shipping
    information management as virtual goods."""
    if shipping_service.queue_recharge_payment not in reactions:
        reactions.append(shipping_service.queue_recharge_payment)


def wire(registry: OrderHooks = hooks) -> None:
    """Fill the process's hook registry once (create_app calls it; calling again changes nothing)."""
    if registry.wired:
        return
    register_order_hooks(registry)
    register_reconcile_checks(reconcile_sources.TRANSFER_SOURCES, reconcile_sources.BOOK_CHECKS)
    register_recharge_reactions(wallet_recharges.RECHARGE_PAID)
    for name in JOB_MODULES + ERROR_MODULES:
        importlib.import_module(name)
    registry.wired = True


def register_blueprints(app: OpenAPI) -> None:
    for bp in (auth_bp, leader_bp, workbench_bp, pickup_bp, catalog_bp, order_bp, payment_bp, manifest_bp,
               flashsale_bp, groupbuy_bp, bargain_bp, chat_bp, notify_bp, subscribe_bp, share_bp, points_bp,
               earnings_bp, reconcile_bp, shipping_bp, coupons_bp, wallet_bp, aftersales_bp,
               backoffice_bp):
        app.register_api(bp)
