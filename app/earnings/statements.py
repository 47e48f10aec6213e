"""A leader's monthly statement (月度对账单): opening and closing balance, commissions and
counter sales by day, withdrawals; as JSON, CSV and PDF. Days and months are LINLI_TIMEZONE's."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time

from sqlmodel import Session, select

from app.config import Settings
from app.earnings import service as earnings_service
from app.earnings.models import EntryKind, Withdrawal
from app.earnings.schemas import DayLine, StatementPublic, StatementWithdrawal
from app.manifest.documents import Document, csv_bytes

K = EntryKind


def month_bounds(settings: Settings, month: str) -> tuple[datetime, datetime]:
    year, mon = (int(x) for x in month.split("-"))
    start = date(year, mon, 1)
    end = date(year + (mon == 12), mon % 12 + 1, 1)
    tz = settings.tz
    return datetime.combine(start, time(0), tzinfo=tz), datetime.combine(end, time(0), tzinfo=tz)


def build(session: Session, *, settings: Settings, leader_id: int, month: str) -> StatementPublic:
    start, end = month_bounds(settings, month)
    entries = earnings_service.entries_between(session, leader_id=leader_id, start=start, end=end)
    opening = earnings_service.balance_before(session, leader_id=leader_id, at=start)
    closing = entries[-1].balance_after if entries else opening
    totals: dict[str, int] = defaultdict(int)
    days: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in entries:
        totals[e.kind] += e.amount
        days[e.created_at.astimezone(settings.tz).date()][e.kind] += e.amount
    lines = [DayLine(day=d, commission=v[K.commission.value], commission_reversed=v[K.commission_reversed.value],
                     pay_code_sales=v[K.pay_code_sale.value], pay_code_refunds=v[K.pay_code_refund.value])
             for d, v in sorted(days.items())
             if any(v[k.value] for k in (K.commission, K.commission_reversed, K.pay_code_sale, K.pay_code_refund))]
    rows = session.exec(select(Withdrawal).where(Withdrawal.leader_id == leader_id, Withdrawal.created_at >= start,
                                                 Withdrawal.created_at < end).order_by(Withdrawal.id)).all()
    return StatementPublic(
        leader_id=leader_id, month=month, opening_balance=opening, closing_balance=closing,
        commission=totals[K.commission.value], commission_reversed=totals[K.commission_reversed.value],
        pay_code_sales=totals[K.pay_code_sale.value], pay_code_refunds=totals[K.pay_code_refund.value],
        withdrawn=-totals[K.withdrawal.value], withdrawals_returned=totals[K.withdrawal_returned.value],
        days=lines, withdrawals=[StatementWithdrawal(id=w.id, created_at=w.created_at.astimezone(settings.tz), amount=w.amount,
                                                     status=w.status) for w in rows])


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _summary(m: StatementPublic) -> list[tuple[str, int]]:
    return [("期初余额", m.opening_balance), ("佣金结算", m.commission), ("佣金冲回", m.commission_reversed),
            ("付款码收款", m.pay_code_sales), ("付款码退款", m.pay_code_refunds), ("提现", -m.withdrawn),
            ("提现退回", m.withdrawals_returned), ("期末余额", m.closing_balance)]


def to_csv(m: StatementPublic) -> bytes:
    def rows():
        yield ["团长", m.leader_id, "月份", m.month, "金额单位", "元"]
        yield []
        for label, fen in _summary(m):
            yield [label, _yuan(fen)]
        yield []
        yield ["日期", "佣金结算", "佣金冲回", "付款码收款", "付款码退款"]
        for d in m.days:
            yield [d.day.isoformat(), _yuan(d.commission), _yuan(d.commission_reversed), _yuan(d.pay_code_sales),
                   _yuan(d.pay_code_refunds)]
        yield []
        yield ["提现单", "申请时间", "金额", "状态"]
        for w in m.withdrawals:
            yield [w.id, w.created_at.isoformat(timespec="seconds"), _yuan(w.amount), w.status]
    return csv_bytes(rows())


STATUS_NAMES = {"reviewing": "审核中", "approved": "已通过", "awaiting_confirmation": "待确认收款", "paid": "已到账",
                "failed": "失败已退回", "rejected": "已驳回"}


def to_pdf(m: StatementPublic) -> bytes:
    doc = Document(f"团长收益对账单 {m.month}（团长 #{m.leader_id}，单位：元）")
    doc.heading("汇总")
    for label, fen in _summary(m):
        doc.row([60, 50], [label, _yuan(fen)])
    doc.heading(f"每日明细（{len(m.days)} 天）")
    doc.row([40, 36, 36, 36, 36], ["日期", "佣金结算", "佣金冲回", "付款码收款", "付款码退款"], bold=True)
    for d in m.days:
        doc.row([40, 36, 36, 36, 36], [d.day.isoformat(), _yuan(d.commission), _yuan(d.commission_reversed),
                                       _yuan(d.pay_code_sales), _yuan(d.pay_code_refunds)])
    doc.heading(f"提现（{len(m.withdrawals)} 笔）")
    doc.row([25, 70, 40, 45], ["单号", "申请时间", "金额", "状态"], bold=True)
    for w in m.withdrawals:
        doc.row([25, 70, 40, 45], [w.id, w.created_at.isoformat(timespec="minutes"), _yuan(w.amount),
                                   STATUS_NAMES.get(w.status, w.status)])
    return doc.bytes()
