from tests.conftest import login

APPLICATION = {"real_name": "王姐", "phone": "13800000001",
               "pickup_point": {"name": "翠苑一区自提点", "address": "杭州市西湖区翠苑一区12幢",
                                "lat": 30.2897, "lng": 120.1324, "service_radius_m": 2000}}


def test_an_approved_applicant_becomes_a_leader_with_a_pickup_point(client, admin):
    applicant = login(client, "wang")
    r = applicant.post("/leader-applications", json=APPLICATION)
    assert r.status_code == 201 and r.get_json()["status"] == "pending"
    app_id = r.get_json()["id"]
    pending = admin.get("/admin/leader-applications?status=pending").get_json()["items"]
    assert [a["id"] for a in pending] == [app_id]
    r = admin.post(f"/admin/leader-applications/{app_id}/approve")
    assert r.status_code == 200
    ids = r.get_json()
    me = applicant.get("/me").get_json()
    assert "leader" in me["roles"] and me["leader_id"] == ids["leader_id"]
    assert me["leader_pickup_point_id"] == ids["pickup_point_id"] and me["pickup_point_id"] is None
    point = client.get(f"/api/v1/pickup-points/{ids['pickup_point_id']}").get_json()
    assert point["name"] == "翠苑一区自提点" and point["service_radius_m"] == 2000 and point["active"]
    assert point["leader"] == {"id": ids["leader_id"], "nickname": "wang"}
    again = admin.post(f"/admin/leader-applications/{app_id}/approve")
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_state"
    assert admin.get("/admin/leader-applications?status=approved").get_json()["items"][0]["leader_id"] == ids["leader_id"]


def test_a_rejected_application_keeps_its_reason_and_gives_no_role(client, admin):
    applicant = login(client, "li")
    app_id = applicant.post("/leader-applications", json=APPLICATION).get_json()["id"]
    r = admin.post(f"/admin/leader-applications/{app_id}/reject", json={"reason": "地址不在服务范围"})
    assert r.status_code == 200 and r.get_json()["status"] == "rejected"
    assert applicant.get("/me").get_json()["roles"] == ["buyer"]
    rejected = admin.get("/admin/leader-applications?status=rejected").get_json()["items"][0]
    assert rejected["reason"] == "地址不在服务范围"
    assert admin.post(f"/admin/leader-applications/{app_id}/approve").status_code == 409
    # after a rejection one may apply again
    assert applicant.post("/leader-applications", json=APPLICATION).status_code == 201


def test_one_pending_application_at_a_time_and_none_for_a_leader(client, admin, leader):
    applicant = login(client, "zhang")
    assert applicant.post("/leader-applications", json=APPLICATION).status_code == 201
    r = applicant.post("/leader-applications", json=APPLICATION)
    assert r.status_code == 409 and r.get_json()["code"] == "application_pending"
    leader_api, _ = leader
    r = leader_api.post("/leader-applications", json=APPLICATION)
    assert r.status_code == 409 and r.get_json()["code"] == "already_leader"


def test_application_input_is_validated(client, admin):
    applicant = login(client, "bad")
    for bad in ({**APPLICATION, "phone": "call me"},
                {**APPLICATION, "pickup_point": {**APPLICATION["pickup_point"], "service_radius_m": 100}},
                {**APPLICATION, "pickup_point": {**APPLICATION["pickup_point"], "service_radius_m": 6000}},
                {**APPLICATION, "pickup_point": {**APPLICATION["pickup_point"], "lat": 91}}):
        r = applicant.post("/leader-applications", json=bad)
        assert r.status_code == 422 and r.get_json()["code"] == "validation_error"
    assert admin.post("/admin/leader-applications/424242/approve").status_code == 404
    assert admin.post("/admin/leader-applications/1/reject", json={}).status_code == 422


def test_wgs84_coordinates_are_stored_as_gcj02(client, admin):
    applicant = login(client, "gps")
    body = {**APPLICATION, "pickup_point": {**APPLICATION["pickup_point"], "lat": 30.2897, "lng": 120.1324,
                                            "coord_type": "wgs84"}}
    app_id = applicant.post("/leader-applications", json=body).get_json()["id"]
    point_id = admin.post(f"/admin/leader-applications/{app_id}/approve").get_json()["pickup_point_id"]
    point = client.get(f"/api/v1/pickup-points/{point_id}").get_json()
    # GCJ-02 is shifted a few hundred metres from WGS-84 around Hangzhou
    assert 0.001 < abs(point["lat"] - 30.2897) < 0.01 and 0.001 < abs(point["lng"] - 120.1324) < 0.01


def test_a_dev_login_without_the_admin_flag_keeps_the_operator_role(client, admin):
    again = login(client, "admin")
    assert "admin" in again.user["roles"]
    assert again.get("/admin/leader-applications").status_code == 200
