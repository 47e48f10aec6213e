"""Issue 18's minor points, each with the request that failed."""
from __future__ import annotations

from tests.conftest import make_leader


def test_nearby_with_a_vanishing_latitude_next_to_a_point_at_zero_is_not_a_500(client, admin):
    _, at_zero = make_leader(client, admin, lat=0.0, lng=0.0)
    _, tiny = make_leader(client, admin, lat=1e-200, lng=-1e-200)  # stored as 0 (1e-7 degree)
    for query in ("lat=1e-200&lng=0", "lat=0&lng=1e-200", "lat=-1e-300&lng=-1e-300", "lat=0&lng=0",
                  "lat=1e-200&lng=0&coord_type=wgs84"):
        r = client.get(f"/api/v1/pickup-points/nearby?{query}")
        assert r.status_code == 200, (query, r.get_json())
        ids = {p["id"] for p in r.get_json()["items"]}
        assert {at_zero["pickup_point_id"], tiny["pickup_point_id"]} <= ids, query
