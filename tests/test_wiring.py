"""Wiring is explicit: every reaction to an order's change is registered by app/wiring.py, in the
order below, in every process that builds the app; a process that never wired refuses to change
an order rather than silently dropping a reaction."""
from __future__ import annotations

import subprocess
import sys

import pytest

from app.order.hooks import NotWired, OrderEvent, OrderHooks
from app.wiring import ERROR_MODULES, register_order_hooks

EXPECTED = {
    ("paid", "group"): ["app.groupbuy.service.count_paid_member"],
    ("paid", "*"): ["app.chat.service.order_updated"],
    ("cancelled", "group"): ["app.groupbuy.service.unpaid_member_cancelled"],
    ("cancelled", "flash_sale"): ["app.flashsale.service.units_back_on_cancel"],
    ("cancelled", "bargain"): ["app.bargain.service.units_back_to_campaign"],
    ("cancelled", "*"): ["app.order.placing.give_points_back", "app.coupons.service.give_back",
                         "app.chat.service.order_updated"],
    ("refunded", "group"): ["app.groupbuy.service.uncount_refunded_member"],
    ("refunded", "flash_sale"): ["app.flashsale.service.units_back_on_refund"],
    ("refunded", "bargain"): ["app.bargain.service.units_back_to_campaign"],
    ("refunded", "*"): ["app.order.placing.give_points_back", "app.coupons.service.give_back",
                        "app.commission.reactions.reverse_on_refund",
                        "app.payment.service.refund_when_order_refunded", "app.share.reactions.reverse_reward",
                        "app.wallet.reactions.growth_back_on_refund", "app.shipping.service.void_on_refund",
                        "app.chat.service.order_updated"],
    ("arrived", "*"): ["app.chat.service.order_updated"],
    ("picked_up", "*"): ["app.share.reactions.reward_sharer", "app.commission.reactions.accrue_on_pickup",
                         "app.wallet.reactions.growth_on_pickup", "app.shipping.service.queue_on_pickup", "app.chat.service.order_updated"],
    ("placed", "set"): ["app.share.reactions.attribute_shares"],
    ("shipped", "set"): ["app.chat.service.orders_shipped"],
    ("received", "set"): ["app.shipping.service.queue_received"],
}


def test_the_registered_hooks_are_the_expected_table():
    registry = OrderHooks()
    register_order_hooks(registry)
    assert registry.table() == EXPECTED


def test_the_apps_registry_is_wired_by_create_app(app):
    from app.order.hooks import hooks

    assert hooks.wired and hooks.table() == EXPECTED


def test_an_unwired_registry_refuses_to_fire():
    with pytest.raises(NotWired):
        OrderHooks().fire(None, OrderEvent.paid, None)  # type: ignore[arg-type]
    with pytest.raises(NotWired):
        OrderHooks().fire_set(None, OrderEvent.placed, [1])  # type: ignore[arg-type]


def test_set_and_single_events_are_not_mixed():
    registry = OrderHooks()
    with pytest.raises(ValueError):
        registry.on(OrderEvent.placed, "*", lambda s, o: None)
    with pytest.raises(ValueError):
        registry.on_set(OrderEvent.paid, lambda s, ids: None)


def test_every_domain_errors_module_is_wired():
    from pathlib import Path

    app_dir = Path(__file__).resolve().parents[1] / "app"
    on_disk = {f"app.{p.parent.name}.errors" for p in app_dir.glob("*/errors.py")}
    assert on_disk == set(ERROR_MODULES)


def test_importing_a_service_registers_nothing():
    """A module import has no side effect on the registry: only wire() fills it."""
    code = ("import app.flashsale.service, app.groupbuy.service, app.chat.service, app.share.reactions;"
            "from app.order.hooks import hooks; assert not hooks.wired and hooks.table() == {}, hooks.table()")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_reconciliation_checks_our_own_books_through_the_wired_checks():
    from app.earnings.service import transfers_between
    from app.reconcile.sources import earnings_ledger, points_ledger, wallets_ledger
    from app.wiring import register_reconcile_checks

    transfer_sources: list = []
    book_checks: dict = {}
    register_reconcile_checks(transfer_sources, book_checks)
    register_reconcile_checks(transfer_sources, book_checks)  # twice: nothing doubles
    assert book_checks == {"points_ledger": points_ledger, "leader_earnings": earnings_ledger,
                           "wallets": wallets_ledger}
    assert transfer_sources == [transfers_between]  # the withdrawals WeChat Pay paid out


def test_a_wechat_pay_recharge_is_reported_to_the_shipping_sync_through_the_wired_reaction():
    from app.shipping.service import queue_recharge_payment
    from app.wiring import register_recharge_reactions

    reactions: list = []
    register_recharge_reactions(reactions)
    register_recharge_reactions(reactions)  # twice: nothing doubles
    assert reactions == [queue_recharge_payment]
