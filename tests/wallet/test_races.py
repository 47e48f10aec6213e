"""Money under concurrency, with real threads on both databases (PostgreSQL interleaves them;
SQLite serialises writers): the wallet never goes below zero, an order is paid once, a pay code
is charged once."""
from __future__ import annotations

import pytest
from sqlmodel import func, select

from app.db import transaction
from app.earnings import service as earnings_service
from app.errors import DomainError
from app.payment import flows as payment_flows
from app.payment.models import Payment
from app.wallet import flows as wallet_flows
from app.wallet.models import WalletEntry
from tests.concurrency import run_together
from tests.wallet.helpers import account, books_balanced, place, top_up


@pytest.fixture
def settings_overrides():
    return {"max_unpaid_orders": 50}


def test_twenty_racing_wallet_payments_never_take_the_balance_below_zero(app, admin, buyer, leader, product):
    top_up(buyer, admin, 10000, 0)  # enough for 5 orders of 1990
    orders = [place(buyer, product, leader[1])["id"] for _ in range(20)]

    def pay(i):
        with app.app_context():
            order, _, provider = payment_flows.start_payment(order_id=orders[i], buyer_id=buyer.user["id"],
                                                             method="wallet")
            return order.status

    results = run_together(20, pay)
    paid = [r for r in results if r == "paid"]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(paid) == 5 and len(refused) == 15, results
    assert {e.code for e in refused} == {"insufficient_balance"}
    a = account(app, buyer.user["id"])
    assert (a.principal, a.bonus) == (10000 - 5 * 1990, 0)
    with app.app_context(), transaction() as s:
        assert s.exec(select(func.count(Payment.id)).where(Payment.provider == "wallet")).one() == 5
    assert books_balanced(app)


def test_twenty_racing_wallet_payments_of_one_order_pay_it_once(app, admin, buyer, leader, product):
    top_up(buyer, admin, 100000, 0)
    order_id = place(buyer, product, leader[1])["id"]

    def pay(i):
        with app.app_context():
            return payment_flows.start_payment(order_id=order_id, buyer_id=buyer.user["id"], method="wallet")[0].status

    results = run_together(20, pay)
    assert all(r == "paid" or isinstance(r, DomainError) for r in results), results
    assert "paid" in results
    a = account(app, buyer.user["id"])
    assert a.principal == 100000 - 1990
    with app.app_context(), transaction() as s:
        assert s.exec(select(func.count(WalletEntry.id)).where(WalletEntry.kind == "payment")).one() == 1
        assert s.exec(select(func.count(Payment.id)).where(Payment.order_id == order_id)).one() == 1
    assert books_balanced(app)


def test_ten_racing_charges_of_one_pay_code_take_it_once(app, admin, buyer, leader):
    top_up(buyer, admin, 100000, 0)
    code = buyer.post("/me/wallet/pay-code").get_json()["code"]
    leader_id, point_id = leader[1]["leader_id"], leader[1]["pickup_point_id"]

    def charge(i):
        with app.app_context():
            return wallet_flows.charge_pay_code(settings=app.extensions["linli.settings"], leader_id=leader_id,
                                                pickup_point_id=point_id, code=code, amount=1000, note=None)[0].id

    results = run_together(10, charge)
    ok = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(ok) == 1 and len(refused) == 9, results
    assert {e.code for e in refused} == {"code_used"}
    assert account(app, buyer.user["id"]).principal == 99000
    with app.app_context(), transaction() as s:
        assert earnings_service.get_account(s, leader_id=leader_id).available == 1000
    assert books_balanced(app)
