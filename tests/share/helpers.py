from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from app.db import transaction, utcnow
from app.points import service as points_service
from app.share.models import Share, ShareOpen
from tests.conftest import login


def bound(client, openid: str, point_id: int, nickname: str | None = None):
    api = login(client, openid, nickname=nickname)
    assert api.put("/me/pickup-point", json={"pickup_point_id": point_id}).status_code == 200
    return api


def share(api, target_type: str, target_id: int) -> dict:
    r = api.post("/shares", json={"target_type": target_type, "target_id": target_id})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def open_(api, token: str) -> dict:
    r = api.post(f"/shares/{token}/open")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def opened_days_ago(app, token: str, visitor_id: int, days: float) -> None:
    """Move a visit back in time in the database (no sleeping)."""
    with app.app_context(), transaction() as s:
        share_id = s.exec(Share.__table__.select().where(Share.token == token)).one().id
        s.exec(update(ShareOpen).where(ShareOpen.share_id == share_id, ShareOpen.visitor_id == visitor_id)
               .values(opened_at=utcnow() - timedelta(days=days)))


def give_points(app, user_id: int, amount: int, reason: str = "test_grant") -> None:
    with app.app_context(), transaction() as s:
        assert points_service.credit(s, user_id=user_id, amount=amount, reason=reason, order_id=None)


def order(api, sku_id: int, point_id: int | None = None, qty: int = 1, **extra):
    body = {"items": [{"sku_id": sku_id, "qty": qty}], **extra}
    if point_id is not None:
        body["pickup_point_id"] = point_id
    return api.post("/orders", json=body)
