"""Our own books: every wallet's ledger sums to its principal and bonus and its balance_after
chains; the reconciliation's `wallets` check names any account that breaks either rule."""
from __future__ import annotations

from sqlalchemy import update

from app.db import transaction
from app.reconcile.sources import wallets_ledger
from app.wallet.models import WalletAccount, WalletEntry
from tests.wallet.helpers import pay_wallet, place, top_up


def findings(app):
    with app.app_context(), transaction() as s:
        return [(f.subject, f.kind, f.ref, f.ours, f.expected, f.detail) for f in wallets_ledger(s)]


def test_the_wallets_check_finds_nothing_after_recharges_payments_and_refunds(app, admin, buyer, leader, product):
    top_up(buyer, admin, 3000, 300)
    order = place(buyer, product, leader[1])
    assert pay_wallet(buyer, order["id"]).status_code == 200
    assert buyer.post(f"/orders/{order['id']}/cancel").status_code == 200
    assert findings(app) == []


def test_the_wallets_check_names_a_balance_its_entries_do_not_make_and_a_broken_chain(app, admin, buyer):
    top_up(buyer, admin, 3000, 300)
    uid = buyer.user["id"]
    with app.app_context(), transaction() as s:
        s.exec(update(WalletAccount).where(WalletAccount.user_id == uid).values(bonus=400))
    assert findings(app) == [("wallets", "amount_mismatch", f"user:{uid}", 3400, 3300, "broken: bonus")]
    with app.app_context(), transaction() as s:
        s.exec(update(WalletAccount).where(WalletAccount.user_id == uid).values(bonus=300))
        s.exec(update(WalletEntry).where(WalletEntry.user_id == uid).values(balance_after=3299))
    assert findings(app) == [("wallets", "amount_mismatch", f"user:{uid}", 3300, 3300,
                              "broken: balance_after chain")]
