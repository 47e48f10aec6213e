import pytest


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readiness_fails_when_redis_is_gone(make_settings):
    from app import create_app

    app = create_app(make_settings(redis_url="redis://127.0.0.1:1/0"))
    r = app.test_client().get("/readyz")
    assert r.status_code == 503 and r.get_json()["checks"]["redis"].startswith("error")


@pytest.fixture
def settings_overrides():
    return {"ratelimit_enabled": True, "ratelimit_auth": "3 per minute"}


def test_login_is_rate_limited_with_a_problem(client):
    codes = [client.post("/api/v1/auth/dev-login", json={"openid": "spammer"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = client.post("/api/v1/auth/dev-login", json={"openid": "spammer"})
    assert r.get_json()["code"] == "rate_limited" and r.headers["Content-Type"].startswith("application/problem+json")
    assert "Retry-After" in r.headers or "X-RateLimit-Reset" in r.headers


def test_forged_tokens_do_not_escape_the_address_bucket(client):
    codes = [client.post("/api/v1/auth/dev-login", json={"openid": "spammer"},
                         headers={"Authorization": f"Bearer forged-{i}-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}).status_code
             for i in range(4)]
    assert codes == [200, 200, 200, 429]


def test_each_user_has_their_own_bucket(client):
    from tests.conftest import login

    users = [login(client, f"u{i}") for i in range(3)]  # three logins use up this address's bucket
    assert client.post("/api/v1/auth/dev-login", json={"openid": "x"}).status_code == 429
    for u in users:
        assert u.post("/auth/dev-login", json={"openid": "x"}).status_code == 200
