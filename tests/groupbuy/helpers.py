from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from app.db import transaction
from app.groupbuy.models import Group
from tests.conftest import login


def make_campaign(admin, sku_id: int, **kw) -> dict:
    now = datetime.now(timezone.utc)
    body = {"sku_id": sku_id, "group_price": 990, "group_size": 3, "duration_s": 3600,
            "starts_at": (now - timedelta(minutes=1)).isoformat(), "ends_at": (now + timedelta(days=1)).isoformat()}
    body.update(kw)
    r = admin.post("/admin/group-buys", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def buyers(client, n: int, point_id: int, prefix: str = "m"):
    out = []
    for i in range(n):
        api = login(client, f"{prefix}-{i}", nickname=f"邻居{i}")
        assert api.put("/me/pickup-point", json={"pickup_point_id": point_id}).status_code == 200
        out.append(api)
    return out


def past_deadline(app, group_id: int) -> None:
    with app.app_context(), transaction() as s:
        s.exec(update(Group).where(Group.id == group_id)
               .values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
