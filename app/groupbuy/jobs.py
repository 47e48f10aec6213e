from __future__ import annotations

import logging

from app.db import transaction, utcnow
from app.groupbuy import service
from app.http import settings

log = logging.getLogger(__name__)


def close_group_job(group_id: int) -> str | None:
    """At a group's deadline: succeed (virtual fill) or fail and refund; nothing if it closed already."""
    with transaction() as s:
        return service.close_group(s, group_id=group_id, settings=settings())


def close_due_groups_job(batch: int = 500) -> int:
    """The periodic sweep for deadlines whose timer job was lost or ran while no worker was up:
    one short transaction per group, so one group's trouble never blocks the others."""
    now = utcnow()
    closed = 0
    with transaction() as s:
        due = service.due_groups(s, now=now, limit=batch)
    for group_id in due:
        try:
            with transaction() as s:
                closed += service.close_group(s, group_id=group_id, settings=settings(), now=now) is not None
        except Exception:
            log.exception("could not close group %s; the next sweep retries", group_id)
    with transaction() as s:
        unsettled = service.unsettled_groups(s, limit=batch)
    for group_id in unsettled:
        try:
            with transaction() as s:
                service.settle_members(s, group_id=group_id, settings=settings())
        except Exception:
            log.exception("could not settle group %s; the next sweep retries", group_id)
    if closed:
        log.info("group sweep closed %d groups", closed)
    return closed
