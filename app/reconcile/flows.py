"""A date's reconciliation run, owning its transactions: the date is claimed in one, WeChat Pay's
bills are fetched outside any, and the matching and its findings are written in another (only by
the run that still holds the date)."""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from app.config import Settings
from app.db import reading, transaction, utcnow
from app.payment import bills
from app.payment.errors import BillNotReady, BillUnreadable, PaymentProviderRejected, PaymentProviderUnavailable
from app.queue import enqueue
from app.reconcile import service, sources
from app.reconcile.errors import ReconciliationRunning

log = logging.getLogger(__name__)
JOB = "app.reconcile.jobs.reconcile_job"


def _bills(provider: Any, day: date) -> tuple[list[bills.TradeLine], list[bills.FundLine]]:
    """Both bills of the day, read; empty where WeChat Pay has none (nothing happened, or the
    sandbox provider, which has no WeChat Pay account behind it)."""
    if provider.name != "wechatpay":
        return [], []
    trade = bills.fetch(provider, "trade", day)
    fund = bills.fetch(provider, "fund_flow", day)
    return (bills.trade_lines(bills.parse_bill(trade)) if trade is not None else [],
            bills.fund_lines(bills.parse_bill(fund)) if fund is not None else [])


def reconcile(day: date, *, settings: Settings, provider: Any, now: datetime | None = None) -> dict[str, Any]:
    """Run the date's reconciliation now and answer its report. A bill not to be had yet (being
    made, WeChat Pay unreachable, a download that does not match its hash) leaves the date
    waiting, with a job queued for LINLI_RECONCILE_RETRY_MINUTES later, until
    LINLI_RECONCILE_MAX_ATTEMPTS attempts have been made; then it is failed, as it is at once
    when WeChat Pay refuses the request. Raises ReconciliationRunning if another run holds the
    date."""
    now = now or utcnow()
    with transaction() as s:
        attempt = service.claim(s, day=day, now=now)
    if attempt is None:
        raise ReconciliationRunning(f"The reconciliation of {day} is running already.")
    try:
        trade, fund = _bills(provider, day)
    except (BillNotReady, BillUnreadable, PaymentProviderUnavailable, PaymentProviderRejected) as e:
        # A refusal (a 4xx WeChat Pay gives again to the same question) is for an operator now.
        retry = not isinstance(e, PaymentProviderRejected) and attempt < settings.reconcile_max_attempts
        delay = timedelta(minutes=settings.reconcile_retry_minutes)
        with transaction() as s:
            state = service.hold(s, day=day, attempt=attempt, error=f"{e.code}: {e.detail or e}", now=utcnow(),
                                 retry_in=delay if retry else None)
            if state == "waiting":
                enqueue(JOB, day.isoformat(), job_id=f"reconcile-{day}-{attempt + 1}", delay=delay)
        log.warning("reconciliation %s, attempt %d: %s (%s)", day, attempt, e.code, state)
    except Exception as e:
        with transaction() as s:
            service.hold(s, day=day, attempt=attempt, error=f"{type(e).__name__}: {e}", now=utcnow(), retry_in=None)
        raise
    else:
        with transaction() as s:
            findings, totals = service.match_day(s, day=day, trade=trade, fund=fund,
                                                 transfer_sources=sources.TRANSFER_SOURCES,
                                                 book_checks=sources.BOOK_CHECKS)
            service.finish(s, day=day, attempt=attempt, findings=findings, totals=totals, now=utcnow())
        log.info("reconciliation %s: %d bill lines, %d fund lines, %d discrepancies", day, len(trade), len(fund),
                 len(findings))
    with reading() as s:
        return service.report(s, day=day)


def report(day: date) -> dict[str, Any]:
    with reading() as s:
        return service.report(s, day=day)


def due_dates(now: datetime | None = None) -> list[date]:
    with reading() as s:
        return service.due_dates(s, now=now or utcnow())
