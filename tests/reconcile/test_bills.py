"""WeChat Pay's bill files read as WeChat Pay writes them, and fetched as it serves them: the
apply-then-download protocol, the hash, the days a bill is not ready yet, and what the run does
about each."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import hypothesis
import pytest
from hypothesis import strategies as st
from rq import Queue
from rq.registry import ScheduledJobRegistry

from app.payment import bills
from app.payment.errors import BillUnreadable, PaymentProviderRejected
from app.payment.providers import out_trade_no
from app.reconcile import jobs
from tests.fakes.wechatpay_bills import FUND_HEADER, FUND_SUMMARY, TRADE_HEADER, TRADE_SUMMARY

PAYMENT = ("`2026-12-03 10:00:00,`wx-test-appid,`1900000109,`0,`,`4200000001,`LL000000000001,`o-buyer,`JSAPI,"
           "`SUCCESS,`OTHERS,`CNY,`19.90,`0.00,`0,`0,`0.00,`0.00,`,`,`麒麟西瓜, 一个装,`,`0.11940,`0.60%,`19.90,`0.00,`")
REFUND = ("`2026-12-03 11:00:00,`wx-test-appid,`1900000109,`0,`,`4200000001,`LL000000000001,`o-buyer,`JSAPI,"
          "`REFUND,`OTHERS,`CNY,`0.00,`0.00,`5000001,`RF0000000001abc,`5.00,`0.00,`ORIGINAL,`PROCESSING,`x,`,"
          "`0.00000,`0.60%,`0.00,`5.00,`")


def trade_file(*lines: str, count: int | None = None) -> str:
    n = len(lines) if count is None else count
    return "\r\n".join([TRADE_HEADER, *lines, TRADE_SUMMARY, f"`{n},`19.90,`5.00,`0.00,`0.11940,`19.90,`5.00"]) + "\r\n"


# ---- reading ------------------------------------------------------------------------------------

def test_a_trade_bill_is_read_by_column_name_with_its_backticks_and_summary_gone():
    lines = bills.trade_lines(bills.parse_bill(trade_file(PAYMENT, REFUND).encode("utf-8")))

    assert lines == [
        bills.TradeLine(kind="payment", out_trade_no="LL000000000001", transaction_id="4200000001", out_refund_no="",
                        amount=1990, state="SUCCESS"),
        bills.TradeLine(kind="refund", out_trade_no="LL000000000001", transaction_id="4200000001",
                        out_refund_no="RF0000000001abc", amount=500, state="PROCESSING")]


def test_a_refund_without_our_number_is_known_by_wechat_pays():
    [line] = bills.trade_lines(bills.parse_bill(trade_file(REFUND.replace("`RF0000000001abc,", "`,"))))
    assert (line.kind, line.out_refund_no) == ("refund", "5000001")


def test_a_comma_inside_a_field_does_not_shift_the_columns():
    bill = bills.parse_bill(trade_file(PAYMENT))
    assert bill.rows[0]["商品名称"] == "麒麟西瓜, 一个装" and bill.rows[0]["订单金额"] == "19.90"
    assert bill.summary["总交易单数"] == "1"


def test_a_bill_read_from_a_utf8_file_with_a_bom_and_full_width_parentheses():
    text = ("\ufeff" + FUND_HEADER.replace("(元)", "（元）") + "\n"
            "`2026-12-03 13:00:00,`1330000001,`99,`商家转账,`商家转账,`支出,`8.00,`100.00,`system,`佣金报酬,`WD1\n"
            + FUND_SUMMARY + "\n`1,`0,`0.00,`1,`8.00\n")
    [line] = bills.fund_lines(bills.parse_bill(text.encode("utf-8")))
    assert (line.voucher, line.amount, line.income, line.is_transfer) == ("WD1", 800, False, True)


@pytest.mark.parametrize("text, why", [
    (trade_file(PAYMENT, count=2), "says 2 lines"),
    (trade_file(PAYMENT.replace("`0.60%,`19.90", "`0.60%,`19.905")), "at most two decimals"),
    (trade_file(PAYMENT.replace("`0.60%,`19.90", "`0.60%,`1e3x")), "not an amount"),
    (trade_file(PAYMENT.replace("`0.60%,`19.90", "`0.60%,`Infinity")), "at most two decimals"),
    (trade_file(PAYMENT).replace("`1,`19.90", "`NaN,`19.90"), "not a number"),
    (trade_file(PAYMENT.rsplit(",`", 1)[0]), "fields, its header"),
    (TRADE_HEADER + "\n" + PAYMENT + "\nsomething else\n", "neither a detail line nor the summary"),
    ("", "empty"),
])
def test_a_bill_that_does_not_add_up_is_refused_not_guessed_at(text, why):
    with pytest.raises(BillUnreadable, match=why):
        bills.trade_lines(bills.parse_bill(text))


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(st.lists(st.sampled_from([TRADE_HEADER, TRADE_SUMMARY, PAYMENT, REFUND, "`1,`2", "`NaN", "`",
                                            "`Infinity,`x", "a,b", ",,,", "`,`,`"]), max_size=6),
                  st.text(max_size=40))
def test_whatever_a_bill_file_says_it_is_read_or_refused_as_unreadable(lines, noise):
    text = "\n".join(lines + [noise])
    for read in (bills.trade_lines, bills.fund_lines):
        try:
            read(bills.parse_bill(text))
        except BillUnreadable:
            pass


def test_amounts_are_exact_fen():
    assert [bills.fen(v) for v in ("0.01", "19.90", "1234567.89", "0", "")] == [1, 1990, 123456789, 0, 0]


# ---- fetching -----------------------------------------------------------------------------------

@pytest.mark.parametrize("gzipped", [True, False])
def test_a_bill_is_applied_for_then_downloaded_and_its_hash_checked(app, books, wechatpay, day, gzipped):
    order = books.order()
    books.pay(order)
    provider = app.extensions["linli.payment_provider"]

    data = bills.fetch(provider, "trade", day, gzipped=gzipped)

    [line] = bills.trade_lines(bills.parse_bill(data))
    assert (line.out_trade_no, line.amount) == (out_trade_no(order["id"]), order["total"])
    [asked] = wechatpay.requests_to("/v3/bill/tradebill")
    assert asked.headers["Accept"] == "application/json" and wechatpay.rejected == []


def test_a_download_that_does_not_match_its_hash_is_refused(app, books, wechatpay, day):
    books.pay(books.order())
    wechatpay.bills.corrupt_downloads = 1
    with pytest.raises(BillUnreadable, match="SHA1"):
        bills.fetch(app.extensions["linli.payment_provider"], "trade", day)


def test_a_download_url_off_the_wechat_pay_gateway_is_never_called(app, monkeypatch, day):
    provider = app.extensions["linli.payment_provider"]
    calls = []
    real = provider.signed_get

    def answer(path, **kw):
        calls.append(path)
        if "tradebill" in path:
            return 200, '{"hash_type": "SHA1", "hash_value": "0", "download_url": "https://evil.example/v3/x?token=1"}'
        return real(path, **kw)
    monkeypatch.setattr(provider, "signed_get", answer)
    with pytest.raises(PaymentProviderRejected, match="outside the WeChat Pay gateway"):
        bills.fetch(provider, "trade", day)


# ---- a bill not ready yet -----------------------------------------------------------------------

def scheduled_ids(app) -> list[str]:
    conn = app.extensions["linli.redis"]
    queue = Queue(app.extensions["linli.settings"].queue_name, connection=conn)
    return [j for j in ScheduledJobRegistry(queue=queue).get_job_ids() if j.startswith("reconcile-")]


def test_a_bill_still_being_made_leaves_the_date_waiting_and_asks_again_later(app, admin, books, wechatpay, day):
    books.pay(books.order())
    wechatpay.bills.not_ready[day.isoformat()] = 1

    with app.app_context():
        assert jobs.reconcile_job(day.isoformat()) == {"date": day.isoformat(), "status": "not_run",
                                                       "discrepancies": 0}
    body = admin.get(f"/admin/reconciliations/{day}").get_json()
    assert body["status"] == "not_run"
    assert (body["run"]["state"], body["run"]["attempts"]) == ("waiting", 1)
    assert body["run"]["error"].startswith("bill_not_ready")
    assert body["run"]["next_attempt_at"] is not None
    assert scheduled_ids(app) == [f"reconcile-{day}-2"]

    with app.app_context():  # the retry, when it comes
        assert jobs.reconcile_job(day.isoformat())["status"] == "balanced"
    body = admin.get(f"/admin/reconciliations/{day}").get_json()
    assert (body["status"], body["run"]["state"], body["run"]["attempts"], body["run"]["error"]) == \
        ("balanced", "done", 2, None)


def test_after_the_last_attempt_the_date_is_failed_for_an_operator(app, admin, wechatpay, day, make_settings):
    wechatpay.bills.not_ready[day.isoformat()] = 99
    settings = app.extensions["linli.settings"]
    app.extensions["linli.settings"] = settings.model_copy(update={"reconcile_max_attempts": 2})
    with app.app_context():
        jobs.reconcile_job(day.isoformat())
        jobs.reconcile_job(day.isoformat())
    body = admin.get(f"/admin/reconciliations/{day}").get_json()
    assert (body["status"], body["run"]["state"], body["run"]["attempts"]) == ("not_run", "failed", 2)
    assert scheduled_ids(app) == [f"reconcile-{day}-2"]  # the first attempt's retry, and no more


def test_an_unreachable_wechat_pay_is_a_bill_not_had_yet(app, admin, wechatpay, day):
    wechatpay.fail_with = 500
    with app.app_context():
        jobs.reconcile_job(day.isoformat())
    body = admin.get(f"/admin/reconciliations/{day}").get_json()
    assert body["run"]["state"] == "waiting" and body["run"]["error"].startswith("bill_not_ready")


def test_the_sweep_queues_again_a_waiting_date_whose_retry_job_was_lost(app, wechatpay, day):
    wechatpay.bills.not_ready[day.isoformat()] = 1
    with app.app_context():
        jobs.reconcile_job(day.isoformat())
        report = jobs.flows.report(day)
        due = report["run"]["next_attempt_at"]
        assert jobs.redrive_reconciliations_job(now=due) == []  # its own job is still to come
        assert jobs.redrive_reconciliations_job(now=due + timedelta(minutes=11)) == [day.isoformat()]


def test_the_daily_job_runs_yesterday_in_beijing(app, day):
    # 02:30 UTC on the 5th is 10:30 in Beijing on the 5th: the 4th's bills.
    with app.app_context():
        assert jobs.reconcile_yesterday_job(now=datetime(2026, 12, 5, 2, 30, tzinfo=timezone.utc)) == "2026-12-04"
        # 17:00 UTC on the 4th is already 01:00 on the 5th in Beijing.
        assert jobs.reconcile_yesterday_job(now=datetime(2026, 12, 4, 17, 0, tzinfo=timezone.utc)) == "2026-12-04"
    queue = Queue(app.extensions["linli.settings"].queue_name, connection=app.extensions["linli.redis"])
    assert "reconcile-2026-12-04" in queue.job_ids


def test_a_bill_wechat_pay_refuses_fails_the_date_at_once(app, admin, wechatpay, day):
    wechatpay.fail_with = 400  # PARAM_ERROR: asking again would be refused again
    with app.app_context():
        jobs.reconcile_job(day.isoformat())
    body = admin.get(f"/admin/reconciliations/{day}").get_json()
    assert (body["run"]["state"], body["run"]["attempts"]) == ("failed", 1)
    assert body["run"]["error"].startswith("payment_provider_rejected")
    assert scheduled_ids(app) == []
