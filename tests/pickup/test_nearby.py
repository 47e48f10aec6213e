from tests.conftest import login, make_leader

CENTER = (30.2741, 120.1551)


def test_nearby_lists_active_points_within_the_radius_nearest_first(client, admin):
    near, _ = make_leader(client, admin, lat=30.2750, lng=120.1560, name="近")        # ~130 m
    mid, _ = make_leader(client, admin, lat=30.2900, lng=120.1551, name="中")         # ~1.8 km
    make_leader(client, admin, lat=30.3300, lng=120.1551, name="远")                 # ~6.2 km
    _, closed = make_leader(client, admin, lat=30.2745, lng=120.1555, name="关")
    assert admin.patch(f"/admin/pickup-points/{closed['pickup_point_id']}", json={"active": False}).status_code == 200

    r = client.get(f"/api/v1/pickup-points/nearby?lat={CENTER[0]}&lng={CENTER[1]}&radius_m=3000")
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert [p["name"] for p in items] == ["近", "中"]
    assert 100 < items[0]["distance_m"] < 160 and 1700 < items[1]["distance_m"] < 1900
    assert items[0]["leader"]["nickname"].startswith("团长") and items[0]["lat"] == 30.2750
    small = client.get(f"/api/v1/pickup-points/nearby?lat={CENTER[0]}&lng={CENTER[1]}&radius_m=1000").get_json()
    assert [p["name"] for p in small["items"]] == ["近"]
    one = client.get(f"/api/v1/pickup-points/nearby?lat={CENTER[0]}&lng={CENTER[1]}&limit=1").get_json()
    assert [p["name"] for p in one["items"]] == ["近"]


def test_nearby_converts_wgs84_input(client, admin):
    make_leader(client, admin, lat=30.2741, lng=120.1551, name="原点")
    # The WGS-84 position of that GCJ-02 point is ~500 m away; converted, it is right there.
    r = client.get("/api/v1/pickup-points/nearby?lat=30.27656&lng=120.15042&coord_type=wgs84&radius_m=500").get_json()
    assert [p["name"] for p in r["items"]] == ["原点"] and r["items"][0]["distance_m"] < 30
    raw = client.get("/api/v1/pickup-points/nearby?lat=30.27656&lng=120.15042&radius_m=300").get_json()
    assert raw["items"] == []


def test_nearby_rejects_bad_coordinates_and_radii(client):
    for q in ("lat=91&lng=120", "lat=30&lng=200", "lat=30&lng=120&radius_m=5001", "lat=30&lng=120&coord_type=bd09",
              "lng=120", "lat=abc&lng=120"):
        r = client.get(f"/api/v1/pickup-points/nearby?{q}")
        assert r.status_code == 422 and r.get_json()["code"] == "validation_error", q


def test_a_leader_edits_their_point_and_buyers_bind_to_active_points_only(client, admin, leader, buyer):
    leader_api, point = leader
    r = leader_api.patch("/leader/pickup-point", json={"opening_hours": "07:30-21:00", "service_radius_m": 1500})
    assert r.status_code == 200 and r.get_json()["opening_hours"] == "07:30-21:00"
    assert buyer.put("/me/pickup-point", json={"pickup_point_id": point["pickup_point_id"]}).get_json()["pickup_point_id"] == point["pickup_point_id"]
    admin.patch(f"/admin/pickup-points/{point['pickup_point_id']}", json={"active": False})
    other = login(client, "late")
    r = other.put("/me/pickup-point", json={"pickup_point_id": point["pickup_point_id"]})
    assert r.status_code == 404 and r.get_json()["code"] == "pickup_point_not_found"
    assert client.get("/api/v1/pickup-points/999999").status_code == 404
