"""The leader's monthly statement: opening and closing balance, commissions and counter sales by
business day, withdrawals; JSON, CSV and PDF agree."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

from pypdf import PdfReader
from sqlalchemy import update

from app.db import transaction
from app.earnings.models import EarningsEntry, Withdrawal
from tests.earnings.helpers import earn


def at(app, kind_source: tuple[str, str], when: datetime) -> None:
    with app.app_context(), transaction() as s:
        s.exec(update(EarningsEntry).where(EarningsEntry.kind == kind_source[0], EarningsEntry.source == kind_source[1])
               .values(created_at=when))


def test_a_month_shows_opening_and_closing_balance_days_and_withdrawals(app, leader, admin):
    api, approved = leader
    lid = approved["leader_id"]
    utc = timezone.utc
    earn(app, lid, 1000, source="commission:1")
    at(app, ("commission", "commission:1"), datetime(2026, 10, 20, 4, tzinfo=utc))  # October: the opening balance
    earn(app, lid, 500, source="commission:2")
    at(app, ("commission", "commission:2"), datetime(2026, 10, 31, 16, 30, tzinfo=utc))  # Nov 1st, 00:30 Shanghai
    earn(app, lid, 300, source="commission:3")
    at(app, ("commission", "commission:3"), datetime(2026, 11, 1, 2, tzinfo=utc))
    earn(app, lid, 80, kind="pay_code_sale", source="pay_code:9")
    at(app, ("pay_code_sale", "pay_code:9"), datetime(2026, 11, 3, 2, tzinfo=utc))
    w = api.post("/leader/withdrawals", json={"amount": 400}).get_json()
    admin.post(f"/admin/withdrawals/{w['id']}/reject", json={"reason": "核对中"})
    with app.app_context(), transaction() as s:
        s.exec(update(Withdrawal).where(Withdrawal.id == w["id"])
               .values(created_at=datetime(2026, 11, 5, 2, tzinfo=utc)))
        s.exec(update(EarningsEntry).where(EarningsEntry.source == f"withdrawal:{w['id']}")
               .values(created_at=datetime(2026, 11, 5, 2, tzinfo=utc)))
    earn(app, lid, 50, source="commission:4")
    at(app, ("commission", "commission:4"), datetime(2026, 12, 1, 2, tzinfo=utc))  # December: not in it

    r = api.get("/leader/statements/2026-11")

    m = r.get_json()
    assert r.status_code == 200, m
    assert (m["opening_balance"], m["closing_balance"]) == (1000, 1880)
    assert (m["commission"], m["pay_code_sales"], m["withdrawn"], m["withdrawals_returned"]) == (800, 80, 400, 400)
    assert [(d["day"], d["commission"], d["pay_code_sales"]) for d in m["days"]] == [
        ("2026-11-01", 800, 0), ("2026-11-03", 0, 80)]
    assert [(x["id"], x["amount"], x["status"]) for x in m["withdrawals"]] == [(w["id"], 400, "rejected")]

    as_csv = api.get("/leader/statements/2026-11", query_string={"format": "csv"})
    assert as_csv.status_code == 200 and as_csv.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(as_csv.data.decode("utf-8-sig"))))
    assert ["期初余额", "10.00"] in rows and ["期末余额", "18.80"] in rows
    assert ["2026-11-01", "8.00", "0.00", "0.00", "0.00"] in rows

    as_pdf = api.get("/leader/statements/2026-11", query_string={"format": "pdf"})
    assert as_pdf.status_code == 200 and as_pdf.mimetype == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(as_pdf.data)).pages)
    assert "团长收益对账单 2026-11" in text and "18.80" in text and "已驳回" in text


def test_a_month_without_entries_carries_the_balance_and_a_bad_month_is_422(app, leader):
    api, approved = leader
    earn(app, approved["leader_id"], 700)

    empty = api.get("/leader/statements/2031-02").get_json()
    bad = api.get("/leader/statements/2026-13")

    assert (empty["opening_balance"], empty["closing_balance"], empty["days"]) == (700, 700, [])
    assert bad.status_code == 422 and bad.get_json()["code"] == "validation_error"
