"""The earnings ledger: each movement once, balances by conditional updates, never negative,
entries that chain and sum to the balance; commissions credited when they settle and taken back
when reversed after that."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app.commission import service as commission_service
from app.commission.models import Commission
from app.db import transaction, utcnow
from app.earnings import service as earnings_service
from app.earnings.models import EarningsAccount, EarningsEntry
from app.order.models import Order
from tests.conftest import login
from tests.earnings.helpers import balances, discrepancies, earn, entries


def test_a_credit_happens_once_per_source(app, leader):
    _, approved = leader
    lid = approved["leader_id"]

    first = earn(app, lid, 500, source="commission:1")
    again = earn(app, lid, 500, source="commission:1")

    assert first is not None and again is None
    assert balances(app, lid) == (500, 0, 0)
    assert entries(app, lid) == [("commission", 500, 500)]


def test_a_debit_never_takes_the_balance_below_zero(app, leader):
    _, approved = leader
    lid = approved["leader_id"]
    earn(app, lid, 300)

    with app.app_context(), pytest.raises(Exception) as refused, transaction() as s:
        earnings_service.debit(s, leader_id=lid, amount=301, kind="withdrawal", source="withdrawal:99")

    assert getattr(refused.value, "code", None) == "insufficient_earnings"
    assert balances(app, lid) == (300, 0, 0)


def test_a_reversal_bigger_than_the_balance_takes_what_is_there_and_the_next_credit_pays_the_rest(app, leader):
    _, approved = leader
    lid = approved["leader_id"]
    earn(app, lid, 300)

    with app.app_context(), transaction() as s:
        earnings_service.take_back(s, leader_id=lid, amount=500, kind="commission_reversed", source="commission:7")
    assert balances(app, lid) == (0, 0, 0)
    with app.app_context(), transaction() as s:
        assert s.get(EarningsAccount, lid).clawback_owed == 200

    earn(app, lid, 1000)

    assert balances(app, lid) == (800, 0, 0)
    assert entries(app, lid) == [("commission", 300, 300), ("commission_reversed", -300, 0),
                                 ("commission", 1000, 1000), ("commission_reversed", -200, 800)]
    with app.app_context(), transaction() as s:
        assert s.get(EarningsAccount, lid).clawback_owed == 0
    assert discrepancies(app) == []


def test_the_books_check_reports_a_balance_its_entries_do_not_sum_to(app, leader):
    _, approved = leader
    lid = approved["leader_id"]
    earn(app, lid, 300)
    earn(app, lid, 200)
    assert discrepancies(app) == []

    with app.app_context(), transaction() as s:  # someone edits the balance by hand
        s.exec(update(EarningsAccount).where(EarningsAccount.leader_id == lid).values(available=900))
        s.exec(update(EarningsEntry).where(EarningsEntry.amount == 200).values(balance_after=250))

    [found] = discrepancies(app)
    assert found["leader_id"] == lid and found["ledger_sum"] == 500 and found["available"] == 900
    assert set(found["problems"]) == {"ledger_sum", "balance_chain"}
    # reported, never fixed
    assert balances(app, lid) == (900, 0, 0)


def _picked_up_commission(app, client, admin, leader, product) -> Commission:
    """A picked-up order's commission, pending (accrued as the pickup hook does)."""
    _, approved = leader
    buyer = login(client, "commission-buyer")
    order = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 2}],
                                        "pickup_point_id": approved["pickup_point_id"]}).get_json()
    assert buyer.post(f"/orders/{order['id']}/pay").status_code == 200
    with app.app_context(), transaction() as s:
        s.exec(update(Order).where(Order.id == order["id"]).values(status="picked_up"))
        return commission_service.accrue(s, settings=app.extensions["linli.settings"], order_id=order["id"],
                                          leader_id=approved["leader_id"], total=3980,
                                          picked_up_at=utcnow() - timedelta(days=30))


def test_a_settled_commission_is_credited_once_and_a_reversal_after_settling_takes_it_back(app, client, admin,
                                                                                          leader, product):
    _, approved = leader
    lid = approved["leader_id"]
    c = _picked_up_commission(app, client, admin, leader, product)
    assert c.amount == 398

    with app.app_context(), transaction() as s:
        assert commission_service.settle_due(s) == 1
    with app.app_context(), transaction() as s:
        assert commission_service.settle_due(s) == 0  # a second run credits nothing
    assert balances(app, lid) == (398, 0, 0)

    with app.app_context(), transaction() as s:
        assert commission_service.rebase(s, order_id=c.order_id, base=1990) is True  # half refunded
    assert balances(app, lid) == (199, 0, 0)
    with app.app_context(), transaction() as s:
        assert commission_service.reverse(s, order_id=c.order_id) is True
        assert commission_service.reverse(s, order_id=c.order_id) is False
    assert balances(app, lid) == (0, 0, 0)
    assert entries(app, lid) == [("commission", 398, 398), ("commission_reversed", -199, 199),
                                 ("commission_reversed", -199, 0)]
    assert discrepancies(app) == []


def test_a_commission_reversed_before_it_settles_never_reaches_the_ledger(app, client, admin, leader, product):
    _, approved = leader
    c = _picked_up_commission(app, client, admin, leader, product)
    with app.app_context(), transaction() as s:
        commission_service.reverse(s, order_id=c.order_id)
    with app.app_context(), transaction() as s:
        assert commission_service.settle_due(s) == 0
    assert balances(app, approved["leader_id"]) == (0, 0, 0)
    assert entries(app, approved["leader_id"]) == []


def test_my_earnings_show_the_balances_and_the_ledger_newest_first(app, leader):
    api, approved = leader
    lid = approved["leader_id"]
    earn(app, lid, 500, source="commission:41")
    earn(app, lid, 120, kind="pay_code_sale", source="pay_code:3")

    r = api.get("/leader/earnings", query_string={"limit": 1})

    body = r.get_json()
    assert r.status_code == 200, body
    assert (body["available"], body["frozen"], body["withdrawn"]) == (620, 0, 0)
    [item] = body["items"]
    assert (item["kind"], item["amount"], item["balance_after"], item["ref"]) == ("pay_code_sale", 120, 620,
                                                                                 "pay_code:3")
    older = api.get("/leader/earnings", query_string={"cursor": body["next_cursor"]}).get_json()["items"]
    assert [(i["kind"], i["ref"]) for i in older] == [("commission", "commission:41")]


def test_a_counter_sale_is_credited_once_and_its_refund_taken_back_once(app, leader):
    _, approved = leader
    lid = approved["leader_id"]
    with app.app_context(), transaction() as s:
        assert earnings_service.pay_code_sale(s, leader_id=lid, charge_id=5, amount=880) is not None
        assert earnings_service.pay_code_sale(s, leader_id=lid, charge_id=5, amount=880) is None
    with app.app_context(), transaction() as s:
        assert earnings_service.pay_code_refunded(s, leader_id=lid, charge_id=5, amount=880) is not None
        assert earnings_service.pay_code_refunded(s, leader_id=lid, charge_id=5, amount=880) is None

    assert entries(app, lid) == [("pay_code_sale", 880, 880), ("pay_code_refund", -880, 0)]
    assert discrepancies(app) == []
