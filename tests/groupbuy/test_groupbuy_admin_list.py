"""GET /admin/group-buys: every campaign, newest first, with its state and its groups by outcome,
paged; operators only. On both databases."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.groupbuy.helpers import buyers, make_campaign


def test_operators_list_every_campaign_with_its_groups(client, admin, leader, product):
    sku, point = product["skus"][0]["id"], leader[1]["pickup_point_id"]
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    running = make_campaign(admin, sku)
    upcoming = make_campaign(admin, sku, starts_at=later.isoformat(), ends_at=(later + timedelta(days=1)).isoformat())
    [opener] = buyers(client, 1, point)
    assert opener.post(f"/group-buys/{running['id']}/groups", json={}).status_code == 201

    r = admin.get("/admin/group-buys")
    assert r.status_code == 200, r.get_json()
    got = [(c["id"], c["state"], c["groups_forming"], c["groups_succeeded"], c["groups_failed"])
           for c in r.get_json()["items"]]
    assert got == [(upcoming["id"], "upcoming", 0, 0, 0), (running["id"], "running", 1, 0, 0)]

    first = admin.get("/admin/group-buys", query_string={"limit": 1}).get_json()
    rest = admin.get("/admin/group-buys", query_string={"limit": 1, "cursor": first["next_cursor"]}).get_json()
    assert [c["id"] for c in rest["items"]] == [running["id"]] and rest["next_cursor"] is None
    assert opener.get("/admin/group-buys").status_code == 403
