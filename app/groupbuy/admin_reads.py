"""The operators' list of every group-buy campaign (any state) with its groups' outcome, a page at a time."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from app.groupbuy.models import Group, GroupBuy
from app.pagination import keyset


def list_all(session: Session, *, before_id: int | None, limit: int) -> list[GroupBuy]:
    return list(session.exec(keyset(select(GroupBuy), GroupBuy.id, before_id, limit)))


def group_counts(session: Session, campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per campaign: how many groups are forming, succeeded and failed."""
    out: dict[int, dict[str, int]] = {cid: {"forming": 0, "succeeded": 0, "failed": 0} for cid in campaign_ids}
    if campaign_ids:
        rows = session.exec(select(Group.campaign_id, Group.status, func.count(Group.id))
                            .where(Group.campaign_id.in_(campaign_ids)).group_by(Group.campaign_id, Group.status))
        for cid, status, n in rows:
            out[cid][status] = n
    return out


def state(campaign: GroupBuy, now: datetime) -> str:
    if now < campaign.starts_at:
        return "upcoming"
    return "running" if now < campaign.ends_at else "ended"
