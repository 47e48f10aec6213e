"""After-sales use cases that own their transactions: the SLA sweep, one request per transaction."""
from __future__ import annotations

from flask import current_app

from app.aftersales import service
from app.config import Settings
from app.db import reading, transaction


def _settings() -> Settings:
    return current_app.extensions["linli.settings"]


def escalate_overdue(settings: Settings | None = None) -> int:
    s_ = settings or _settings()
    with reading() as s:
        ids = service.overdue(s, settings=s_)
    n = 0
    for after_sale_id in ids:
        with transaction() as s:
            n += service.escalate_overdue(s, settings=s_, after_sale_id=after_sale_id)
    return n
