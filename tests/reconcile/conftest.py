"""The local fake WeChat Pay, bills included (one server per session, reset for each test), and
small builders for a bill date's payments, refunds and transfers."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
from sqlalchemy import update

from app.db import transaction
from app.payment import flows as payment_flows
from app.payment import service as payment_service
from app.payment.models import Refund
from app.payment.providers import out_trade_no
from app.reconcile import sources
from tests.fakes.wechatpay_transfers import wechatpay, wechatpay_server  # noqa: F401 - fixtures
from tests.payment.helpers import notify, place_order

CST = timezone(timedelta(hours=8))


@pytest.fixture
def settings_overrides(wechatpay):
    return wechatpay.settings()


@pytest.fixture
def day() -> date:
    """Yesterday in Beijing: a bill date WeChat Pay has made (every time in a test is on it, so
    that a run across Beijing's midnight changes nothing)."""
    return datetime.now(CST).date() - timedelta(days=1)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=CST)


@pytest.fixture
def transfers(monkeypatch):
    """Our side of the day's transfers, as the earnings domain will report them through
    TRANSFER_SOURCES: a list the test fills with (out_bill_no, amount, state)."""
    ours = _Transfers()
    asked = ours.asked

    def source(session, start, end):
        asked.append((start, end))
        return list(ours)

    monkeypatch.setattr(sources, "TRANSFER_SOURCES", sources.TRANSFER_SOURCES + [source])
    return ours


class _Transfers(list):
    """(out_bill_no, amount, state) rows, and the [start, end) each call asked for."""

    def __init__(self):
        super().__init__()
        self.asked: list[tuple[datetime, datetime]] = []


class Day:
    """Payments and refunds on one bill date, through the real protocol against the fake."""

    def __init__(self, app, client, buyer, leader, product, wechatpay, day):
        self.app, self.client, self.buyer, self.leader, self.product = app, client, buyer, leader, product
        self.wechatpay, self.day = wechatpay, day

    def order(self) -> dict:
        return place_order(self.buyer, self.leader, self.product, qty=1)

    def pay(self, order: dict, *, hour: int = 10, deliver: bool = True) -> str:
        """WeChat Pay takes the money at `hour` of the day; the notification reaches us unless
        deliver=False (lost). Answers the transaction id."""
        headers, body = self.wechatpay.notification(out_trade_no=out_trade_no(order["id"]), amount=order["total"],
                                                    success_time=at(self.day, hour))
        if deliver:
            assert notify(self.client, headers, body).status_code == 204
        [txn] = [t for t, p in self.wechatpay.bills.payments.items() if p["out_trade_no"] == out_trade_no(order["id"])]
        return txn

    def refund(self, order: dict, amount: int, *, hour: int = 11) -> Refund:
        """A partial refund, sent to WeChat Pay as its job sends it (accepted: processing), dated
        `hour` of the day on both sides."""
        with self.app.app_context(), transaction() as s:
            refund = payment_service.refund_amount(s, order_id=order["id"], amount=amount, reason="shortage")
        with self.app.app_context():
            assert payment_flows.execute_refund(refund_id=refund.id).status == "processing"
        when = at(self.day, hour)
        with self.app.app_context(), transaction() as s:
            s.exec(update(Refund).where(Refund.id == refund.id).values(created_at=when))
            refund = s.get(Refund, refund.id)
        self.wechatpay.refunds[refund.out_refund_no]["create_time"] = when.isoformat(timespec="seconds")
        return refund


@pytest.fixture
def books(app, client, buyer, leader, product, wechatpay, day) -> Day:
    return Day(app, client, buyer, leader, product, wechatpay, day)
