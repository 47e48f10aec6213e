"""The operators' list of every flash sale (any state), newest first, a page at a time."""
from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from app.flashsale.models import FlashSale
from app.pagination import keyset


def list_all(session: Session, *, before_id: int | None, limit: int) -> list[FlashSale]:
    return list(session.exec(keyset(select(FlashSale), FlashSale.id, before_id, limit)))


def state(sale: FlashSale, now: datetime) -> str:
    if now < sale.starts_at:
        return "upcoming"
    return "running" if now < sale.ends_at else "ended"
