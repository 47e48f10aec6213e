"""Login through WeChat's jscode2session (against a local fake speaking its protocol), dev login,
production settings, the caller's profile, and what an unusable token gets."""
from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token
from pydantic import ValidationError

from app import create_app
from app.config import DEFAULT_SECRET, Settings
from tests.conftest import login, make_leader
from tests.fakes.wechat import CODE_USED, INVALID_CODE, RATE_LIMITED, SYSTEM_BUSY

PROBLEM = "application/problem+json"


@pytest.fixture
def wechat(fake_wechat):
    """The session's fake WeChat, which conftest's settings already point the app at."""
    return fake_wechat


@pytest.fixture
def settings_overrides(wechat):
    # Spelled out here too: these tests are about exactly this configuration.
    return {"wechat_api_base": wechat.base_url, "wechat_appid": wechat.appid, "wechat_secret": wechat.secret}


def wechat_login(client, code: str):
    return client.post("/api/v1/auth/wechat", json={"code": code})


def assert_problem(r, status: int, code: str):
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == PROBLEM
    body = r.get_json()
    assert body["status"] == status and body["code"] == code, body
    assert body["title"] and body["type"]
    return body


# ---- WeChat login ---------------------------------------------------------------------------

def test_a_wechat_code_logs_the_user_in_with_a_working_token(client, wechat):
    r = wechat_login(client, wechat.issue_code("o-alice", unionid="u-alice"))

    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["token"] and body["user"]["roles"] == ["buyer"]
    assert body["user"]["pickup_point_id"] is None and body["user"]["leader_id"] is None
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.get_json()["id"] == body["user"]["id"]


def test_the_app_calls_jscode2session_with_its_appid_secret_and_grant_type(client, wechat):
    code = wechat.issue_code("o-params")

    assert wechat_login(client, code).status_code == 200

    call = [c for c in wechat.calls if c.params.get("js_code") == code][-1]
    assert call.path == "/sns/jscode2session"
    assert call.params == {"appid": wechat.appid, "secret": wechat.secret, "js_code": code,
                           "grant_type": "authorization_code"}


def test_the_same_openid_logging_in_twice_is_the_same_user(client, wechat):
    first = wechat_login(client, wechat.issue_code("o-bob")).get_json()
    second = wechat_login(client, wechat.issue_code("o-bob")).get_json()
    other = wechat_login(client, wechat.issue_code("o-carol")).get_json()

    assert first["user"]["id"] == second["user"]["id"]
    assert other["user"]["id"] != first["user"]["id"]


def test_an_invalid_code_is_a_401_wechat_code_invalid(client, wechat):
    body = assert_problem(wechat_login(client, "never-issued"), 401, "wechat_code_invalid")
    assert str(INVALID_CODE) in body["detail"]


def test_a_code_used_twice_is_refused_the_second_time(client, wechat):
    code = wechat.issue_code("o-dave")
    assert wechat_login(client, code).status_code == 200

    body = assert_problem(wechat_login(client, code), 401, "wechat_code_invalid")
    assert str(CODE_USED) in body["detail"]


def test_wechat_rate_limiting_is_a_429_wechat_rate_limited(client, wechat):
    wechat.fail_next(RATE_LIMITED)
    assert_problem(wechat_login(client, wechat.issue_code()), 429, "wechat_rate_limited")


def test_wechat_system_busy_is_a_503_wechat_unavailable(client, wechat):
    wechat.fail_next(SYSTEM_BUSY)
    assert_problem(wechat_login(client, wechat.issue_code()), 503, "wechat_unavailable")


def test_a_code_refused_for_a_busy_system_can_be_used_once_wechat_recovers(client, wechat):
    code = wechat.issue_code("o-erin")
    wechat.fail_next(SYSTEM_BUSY)
    assert wechat_login(client, code).status_code == 503

    assert wechat_login(client, code).status_code == 200


def test_a_wrong_app_secret_is_our_misconfiguration_a_503_not_the_users_fault(make_settings, wechat):
    app = create_app(make_settings(wechat_secret="not-the-secret"))
    try:
        r = wechat_login(app.test_client(), wechat.issue_code())
        body = assert_problem(r, 503, "wechat_unavailable")
        assert "not-the-secret" not in r.get_data(as_text=True)
        assert body["detail"]
    finally:
        app.extensions["linli.engine"].dispose()


def test_a_gateway_error_page_instead_of_json_is_a_503(client, wechat):
    wechat.break_next(502, b"<html><body>502 Bad Gateway</body></html>")
    assert_problem(wechat_login(client, wechat.issue_code()), 503, "wechat_unavailable")


def test_an_unreachable_wechat_is_a_503_wechat_unavailable(make_settings):
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    app = create_app(make_settings(wechat_api_base=f"http://127.0.0.1:{dead}"))
    try:
        assert_problem(wechat_login(app.test_client(), "any-code"), 503, "wechat_unavailable")
    finally:
        app.extensions["linli.engine"].dispose()


@pytest.mark.parametrize("payload", [{}, {"code": ""}, {"code": 123}, {"code": "x" * 300}])
def test_a_missing_or_malformed_code_is_a_422_and_wechat_is_not_called(client, wechat, payload):
    before = len(wechat.calls)
    assert_problem(client.post("/api/v1/auth/wechat", json=payload), 422, "validation_error")
    assert len(wechat.calls) == before


# ---- dev login and production settings ------------------------------------------------------

def test_dev_login_is_404_when_turned_off(make_settings):
    app = create_app(make_settings(dev_login=False))
    try:
        r = app.test_client().post("/api/v1/auth/dev-login", json={"openid": "sneaky", "admin": True})
        assert_problem(r, 404, "not_found")
    finally:
        app.extensions["linli.engine"].dispose()


def test_dev_login_is_on_by_default_outside_prod():
    assert Settings(env="dev").dev_login is True
    assert Settings(env="test").dev_login is True


def test_prod_refuses_the_default_secret():
    with pytest.raises(ValidationError, match="LINLI_SECRET_KEY"):
        Settings(env="prod", secret_key=DEFAULT_SECRET)


def test_prod_refuses_a_short_secret():
    with pytest.raises(ValidationError, match="LINLI_SECRET_KEY"):
        Settings(env="prod", secret_key="short-but-not-default")


STRONG_SECRET = "3f9c2a7be1d04c58a6e9b7f1c2d3e4a5b6c7d8e9f0a1b2c3"


def test_prod_refuses_dev_login():
    with pytest.raises(ValidationError, match="LINLI_DEV_LOGIN"):
        Settings(env="prod", secret_key=STRONG_SECRET, payment_provider="wechatpay", dev_login=True)


def test_prod_with_a_real_secret_has_dev_login_off():
    s = Settings(env="prod", secret_key=STRONG_SECRET, payment_provider="wechatpay")
    assert s.dev_login is False


def test_prod_settings_from_the_environment_refuse_the_default_secret(monkeypatch):
    monkeypatch.setenv("LINLI_ENV", "prod")
    monkeypatch.delenv("LINLI_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError):
        Settings()


# ---- me ----------------------------------------------------------------------------------------

def test_me_describes_the_caller(client, buyer):
    r = buyer.get("/me")

    assert r.status_code == 200
    body = r.get_json()
    contract = {"id": buyer.user["id"], "nickname": "小邻居", "roles": ["buyer"], "pickup_point_id": None,
                "leader_id": None}
    assert {k: body.get(k, "missing") for k in contract} == contract  # fields may be added, never removed


def test_an_admin_has_the_admin_role(admin):
    assert "admin" in admin.get("/me").get_json()["roles"]


def test_binding_a_pickup_point_shows_in_me(client, leader, buyer):
    _, approved = leader
    r = buyer.put("/me/pickup-point", json={"pickup_point_id": approved["pickup_point_id"]})

    assert r.status_code == 200, r.get_json()
    assert r.get_json()["pickup_point_id"] == approved["pickup_point_id"]
    assert buyer.get("/me").get_json()["pickup_point_id"] == approved["pickup_point_id"]


def test_binding_an_unknown_pickup_point_is_a_404(client, buyer):
    assert_problem(buyer.put("/me/pickup-point", json={"pickup_point_id": 999_999}), 404, "pickup_point_not_found")
    assert buyer.get("/me").get_json()["pickup_point_id"] is None


def test_binding_a_closed_pickup_point_is_a_404(client, admin, leader, buyer):
    _, approved = leader
    assert admin.patch(f"/admin/pickup-points/{approved['pickup_point_id']}", json={"active": False}).status_code == 200

    assert_problem(buyer.put("/me/pickup-point", json={"pickup_point_id": approved["pickup_point_id"]}), 404,
                   "pickup_point_not_found")


def test_an_approved_applicant_gains_the_leader_role_with_the_same_token(client, admin):
    applicant = login(client, "would-be-leader")
    assert applicant.get("/me").get_json()["roles"] == ["buyer"]
    assert applicant.get("/leader/orders").status_code == 403

    r = applicant.post("/leader-applications", json={
        "real_name": "王团长", "phone": "13800000000",
        "pickup_point": {"name": "幸福里自提点", "address": "幸福里1号", "lat": 30.27, "lng": 120.15}})
    assert r.status_code == 201
    approved = admin.post(f"/admin/leader-applications/{r.get_json()['id']}/approve").get_json()

    me = applicant.get("/me").get_json()
    assert me["roles"] == ["buyer", "leader"] and me["leader_id"] == approved["leader_id"]
    assert applicant.get("/leader/orders").status_code == 200


def test_a_suspended_leader_loses_the_leader_role(client, admin):
    leader_api, approved = make_leader(client, admin)
    assert admin.patch(f"/admin/leaders/{approved['leader_id']}", json={"active": False}).status_code == 200

    assert "leader" not in leader_api.get("/me").get_json()["roles"]
    assert leader_api.get("/leader/orders").status_code == 403


# ---- unusable tokens ------------------------------------------------------------------------

def test_no_token_is_a_401_unauthorized(client):
    assert_problem(client.get("/api/v1/me"), 401, "unauthorized")


@pytest.mark.parametrize("header", [
    "Bearer garbage",
    "Bearer a.b.c",
    "Bearer ",
    "Basic dXNlcjpwYXNz",
    "garbage",
])
def test_a_garbage_token_is_a_401_unauthorized(client, header):
    assert_problem(client.get("/api/v1/me", headers={"Authorization": header}), 401, "unauthorized")


def test_an_expired_token_is_a_401_unauthorized(app, client, buyer):
    with app.app_context():
        token = create_access_token(identity=str(buyer.user["id"]), expires_delta=timedelta(seconds=-30))
    assert_problem(client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401, "unauthorized")


def test_a_token_signed_with_another_key_is_a_401_unauthorized(make_settings, client, buyer):
    other = create_app(make_settings(secret_key="another-secret-key-of-enough-length-0123"))
    try:
        with other.app_context():
            forged = create_access_token(identity=str(buyer.user["id"]), additional_claims={"roles": ["admin"]})
    finally:
        other.extensions["linli.engine"].dispose()
    assert_problem(client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}), 401, "unauthorized")


def test_a_token_for_a_user_that_does_not_exist_is_a_401(app, client):
    with app.app_context():
        token = create_access_token(identity="987654")
    assert_problem(client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401, "unauthorized")


def test_a_token_with_a_non_numeric_subject_is_a_401(app, client):
    with app.app_context():
        token = create_access_token(identity="not-a-number")
    assert_problem(client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401, "unauthorized")
